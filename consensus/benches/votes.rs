//! Votes processed per second by the core alone, signature checks stubbed out.
//!
//! Each iteration feeds a fresh core (a non-validator observer, so it signs nothing) every prevote
//! and precommit of many rounds of one height; rounds advance through the round-skip rule as the
//! votes arrive, as they would for a node catching up.

// A benchmark binary: setup failures should stop it loudly.
#![allow(clippy::expect_used)]

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};

use cairn_consensus::{
    Config, Consensus, Context, Input, Round, SignedVote, Signer, Validator, ValidatorSet, Vote,
    VoteType,
};

/// A context whose signatures always verify: the benchmark measures the core, not the crypto.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct StubContext;

impl Context for StubContext {
    type ValueId = u64;
    type PublicKey = u32;
    type Signature = ();

    fn verify(_: &u32, _: &[u8], _: &()) -> bool {
        true
    }
}

struct StubSigner(u32);

impl Signer<StubContext> for StubSigner {
    fn public_key(&self) -> &u32 {
        &self.0
    }

    fn sign(&self, _: &[u8]) {}
}

const VOTES_PER_ITERATION: usize = 8_000;

fn setup(validators: &ValidatorSet<StubContext>) -> Consensus<StubContext, StubSigner> {
    let mut config = Config::new("bench").expect("valid chain id");
    config.max_future_rounds = 4;
    let mut core = Consensus::new(config, StubSigner(u32::MAX));
    let _ = core.apply(Input::StartHeight {
        height: 1,
        validators: validators.clone(),
        wal: Vec::new(),
    });
    core
}

fn votes(n: u32) -> Vec<SignedVote<StubContext>> {
    let rounds = VOTES_PER_ITERATION as u32 / (2 * n);
    let mut votes = Vec::with_capacity(VOTES_PER_ITERATION);
    for round in 0..rounds {
        for (vote_type, value) in [(VoteType::Prevote, Some(7)), (VoteType::Precommit, None)] {
            for validator in 0..n {
                votes.push(SignedVote {
                    vote: Vote {
                        height: 1,
                        round: Round(round),
                        vote_type,
                        value,
                        validator,
                    },
                    signature: (),
                });
            }
        }
    }
    votes
}

fn bench_votes(c: &mut Criterion) {
    let mut group = c.benchmark_group("consensus::votes");
    for n in [4u32, 100] {
        let validators = ValidatorSet::new(
            (0..n)
                .map(|k| Validator {
                    public_key: k,
                    voting_power: 1,
                })
                .collect(),
        )
        .expect("valid validator set");
        let votes = votes(n);
        group.throughput(Throughput::Elements(votes.len() as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("validators={n}")),
            &votes,
            |b, votes| {
                b.iter_batched(
                    || (setup(&validators), votes.clone()),
                    |(mut core, votes)| {
                        for vote in votes {
                            let _ = core.apply(Input::Vote(vote));
                        }
                        core
                    },
                    BatchSize::LargeInput,
                )
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench_votes);
criterion_main!(benches);
