//! Deterministic simulation of many validators: the core's main test.
//!
//! Each seed draws a scenario (4, 7 or 10 validators, equal or unequal powers, up to f byzantine
//! validators that equivocate, vote for invalid values or stay silent, message delay, reordering,
//! duplication and loss, partitions that heal, crashes that restart from the write-ahead log) and
//! runs it on simulated time until every honest validator has decided every height. After each run
//! the simulator checks agreement, validity, termination within a bound after healing, that every
//! equivocation an honest validator saw was reported, and that no honest validator signed two
//! different messages for one (height, round, step), across restarts too.
//!
//! - `cargo test -p cairn-consensus --test it sim::` runs the default 20,000 scenarios.
//! - `CAIRN_SIM_SCENARIOS=N` runs N scenarios instead (the long mode: add `--release` for millions);
//!   `CAIRN_SIM_FIRST_SEED=K` starts at seed K rather than 0, to explore further seeds.
//! - `CAIRN_SIM_SEED=S` with `sim::replay` runs only scenario S; `CAIRN_SIM_TRACE=1` also prints
//!   every output of every honest node. A failing run prints its seed and this command.

mod byzantine;
mod runner;
mod scenario;
mod values;

use std::time::Instant;

use cairn_consensus::Mutation;

use runner::{run, Violation};
use scenario::{Scenario, Size};

pub const CHAIN_ID: &str = "cairn-sim";

const DEFAULT_SCENARIOS: u64 = 20_000;
/// The default run is split over this many tests so the harness can run them in parallel.
const SHARDS: u64 = 4;

fn scenario_count() -> u64 {
    std::env::var("CAIRN_SIM_SCENARIOS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_SCENARIOS)
}

fn first_seed() -> u64 {
    std::env::var("CAIRN_SIM_FIRST_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn replay_seed() -> Option<u64> {
    std::env::var("CAIRN_SIM_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
}

fn fail(scenario: &Scenario, violation: &Violation) -> ! {
    panic!(
        "seed {seed} failed: {violation}\nscenario: {scenario:?}\nreplay with: \
         CAIRN_SIM_SEED={seed} cargo test -p cairn-consensus --test it sim::replay -- --nocapture",
        seed = scenario.seed
    )
}

fn run_shard(shard: u64) {
    if replay_seed().is_some() {
        return;
    }
    let total = scenario_count();
    let start = first_seed() + total * shard / SHARDS;
    let end = first_seed() + total * (shard + 1) / SHARDS;
    let began = Instant::now();
    let (mut events, mut equivocations, mut slowest) = (0, 0, 0);
    for seed in start..end {
        let scenario = Scenario::generate(seed, Size::Mixed);
        match run(&scenario) {
            Ok(outcome) => {
                events += outcome.events;
                equivocations += outcome.equivocations_seen;
                slowest = slowest.max(outcome.decided_after_heal);
            }
            Err(v) => fail(&scenario, &v),
        }
    }
    eprintln!(
        "sim shard {shard}: seeds {start}..{end} passed in {:.1?}: {events} events, {equivocations} \
         equivocations seen and reported, all heights decided at most {slowest} ms after healing",
        began.elapsed()
    );
}

#[test]
fn scenarios_shard_0() {
    run_shard(0);
}

#[test]
fn scenarios_shard_1() {
    run_shard(1);
}

#[test]
fn scenarios_shard_2() {
    run_shard(2);
}

#[test]
fn scenarios_shard_3() {
    run_shard(3);
}

/// Replays the seed in `CAIRN_SIM_SEED` (no-op without it).
#[test]
fn replay() {
    let Some(seed) = replay_seed() else {
        return;
    };
    let scenario = Scenario::generate(seed, Size::Mixed);
    eprintln!("{scenario:#?}");
    match run(&scenario) {
        Ok(outcome) => eprintln!("seed {seed} passed: {outcome:?}"),
        Err(v) => fail(&scenario, &v),
    }
}

/// A seed replays exactly: same events, same end time.
#[test]
fn a_seed_replays_exactly() {
    for seed in [3, 59, 102, 8315] {
        let scenario = Scenario::generate(seed, Size::Mixed);
        let first = run(&scenario).unwrap();
        let second = run(&scenario).unwrap();
        assert_eq!(
            (first.events, first.end_time, first.equivocations_seen),
            (second.events, second.end_time, second.equivocations_seen)
        );
    }
}

/// Each size on its own, so a regression at one size is visible at a glance.
#[test]
fn every_size_including_unequal_powers() {
    if replay_seed().is_some() {
        return;
    }
    for n in [4, 7, 10] {
        for seed in 0..40 {
            let scenario = Scenario::generate(1_000_000 + seed, Size::Exactly(n));
            if let Err(v) = run(&scenario) {
                fail(&scenario, &v);
            }
        }
    }
}

/// Runs broken scenarios until one fails `check`; returns the seed.
fn find_failure(
    mutation: Option<Mutation>,
    check: &str,
    seeds: u64,
    shape: impl Fn(&mut Scenario),
) -> u64 {
    for seed in 0..seeds {
        let mut scenario = Scenario::generate(2_000_000 + seed, Size::Exactly(4));
        scenario.mutation = mutation;
        shape(&mut scenario);
        if let Err(v) = run(&scenario) {
            if v.check == check {
                eprintln!(
                    "{mutation:?} caught by the {check} check at seed {}: {v}",
                    scenario.seed
                );
                return scenario.seed;
            }
        }
    }
    panic!("{mutation:?} went unnoticed by the {check} check in {seeds} scenarios");
}

/// Beyond the fault bound the termination check must fire: two silent validators of four.
#[test]
fn too_many_silent_validators_are_caught_by_the_termination_check() {
    find_failure(None, "termination", 10, |s| {
        s.byzantine = vec![
            Some(scenario::Byzantine::Silent),
            Some(scenario::Byzantine::Silent),
            None,
            None,
        ];
        s.crashes.retain(|c| c.node >= 2);
        s.powers = vec![1; 4];
    });
}

/// A check that cannot fail proves nothing: ignoring the lock must break agreement.
#[test]
fn ignoring_the_lock_is_caught_by_the_agreement_check() {
    find_failure(Some(Mutation::IgnoreLock), "agreement", 20_000, |s| {
        // One equivocator that helps every side, and a lossy network, make the lock matter.
        s.byzantine = vec![Some(scenario::Byzantine::Equivocator), None, None, None];
        s.crashes.retain(|c| c.node != 0);
        s.powers = vec![1; 4];
    });
}

/// Forgetting the write-ahead log on restart must be caught as double signing.
#[test]
fn forgetting_the_wal_is_caught_by_the_double_signing_check() {
    find_failure(
        Some(Mutation::ForgetWal),
        "no conflicting signatures",
        5_000,
        |s| {
            let at = 5 + s.seed % 50;
            s.crashes = vec![scenario::Crash {
                node: 1,
                at,
                restart_at: at + 10 + (s.seed / 50) % 80,
            }];
            s.keep_received_on_crash = false;
            s.byzantine = vec![None; 4];
            s.powers = vec![1; 4];
            s.heal_at = s.heal_at.max(s.crashes[0].restart_at);
        },
    );
}

/// Taking invalid values as valid must be caught by the validity check.
#[test]
fn accepting_invalid_values_is_caught_by_the_validity_check() {
    find_failure(
        Some(Mutation::AcceptInvalidValues),
        "validity",
        5_000,
        |s| {
            s.byzantine = vec![Some(scenario::Byzantine::InvalidVoter), None, None, None];
            s.crashes.retain(|c| c.node != 0);
            s.powers = vec![1; 4];
        },
    );
}

/// Withholding evidence must be caught by the evidence check.
#[test]
fn hiding_evidence_is_caught_by_the_evidence_check() {
    find_failure(Some(Mutation::HideEvidence), "evidence", 5_000, |s| {
        s.byzantine = vec![Some(scenario::Byzantine::Equivocator), None, None, None];
        s.crashes.retain(|c| c.node != 0);
        s.powers = vec![1; 4];
    });
}
