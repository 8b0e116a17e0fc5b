//! A scenario: everything the simulator does in one run, drawn from a seed.

use cairn_consensus::Mutation;
use rand::{seq::SliceRandom, Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// How a byzantine validator misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Byzantine {
    /// Sends nothing.
    Silent,
    /// Sends conflicting proposals and votes to different peers, and sometimes both to one peer.
    Equivocator,
    /// Proposes and votes for values the application calls invalid.
    InvalidVoter,
}

/// A network partition: nodes in different groups cannot reach each other while it lasts.
#[derive(Clone, Debug)]
pub struct Partition {
    pub start: u64,
    pub end: u64,
    pub group_of: Vec<u8>,
}

/// A crash of an honest node and its restart from the write-ahead log.
#[derive(Clone, Copy, Debug)]
pub struct Crash {
    pub node: usize,
    pub at: u64,
    pub restart_at: u64,
}

/// One run of the simulator.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub seed: u64,
    pub powers: Vec<u64>,
    /// Byzantine behaviour per node (`None`: honest).
    pub byzantine: Vec<Option<Byzantine>>,
    /// Heights every honest node must decide.
    pub heights: u64,
    /// Before `heal_at`: message loss and duplication per mille, and delay range in ms.
    pub loss_per_mille: u32,
    pub duplicate_per_mille: u32,
    pub max_delay: u64,
    pub partitions: Vec<Partition>,
    pub crashes: Vec<Crash>,
    /// From this time on: no loss, no partition, every node up, delays of at most `HEALED_MAX_DELAY`.
    pub heal_at: u64,
    /// Whether a node keeps the messages it received across a crash (they are not needed for
    /// safety, only for liveness).
    pub keep_received_on_crash: bool,
    /// A rule broken on purpose in every honest node.
    pub mutation: Option<Mutation>,
}

/// Delay bound once the network has healed.
pub const HEALED_MAX_DELAY: u64 = 10;

/// Validators in the generated scenarios.
#[derive(Clone, Copy, Debug)]
pub enum Size {
    /// 4, 7 or 10 validators, mixed.
    Mixed,
    /// Exactly this many.
    Exactly(usize),
}

impl Scenario {
    /// Draws a scenario from a seed.
    pub fn generate(seed: u64, size: Size) -> Scenario {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let n = match size {
            Size::Exactly(n) => n,
            Size::Mixed => *[4, 4, 4, 7, 7, 10].choose(&mut rng).unwrap(),
        };
        let powers: Vec<u64> = if rng.gen_bool(0.5) {
            vec![1; n]
        } else {
            (0..n).map(|_| rng.gen_range(1..=10)).collect()
        };
        let total: u64 = powers.iter().sum();

        // Up to f byzantine validators: their power stays strictly below a third.
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut rng);
        let wanted = rng.gen_range(0..=n / 3);
        let mut byzantine = vec![None; n];
        let mut byzantine_power = 0;
        let mut count = 0;
        for &i in &order {
            if count == wanted {
                break;
            }
            if (byzantine_power + powers[i]) * 3 < total {
                byzantine_power += powers[i];
                count += 1;
                byzantine[i] = Some(
                    *[
                        Byzantine::Silent,
                        Byzantine::Equivocator,
                        Byzantine::Equivocator,
                        Byzantine::InvalidVoter,
                    ]
                    .choose(&mut rng)
                    .unwrap(),
                );
            }
        }

        let mut heal_at = rng.gen_range(0..400);
        let mut partitions = Vec::new();
        let mut partition_start = 0;
        while partitions.len() < 2 && rng.gen_bool(0.35) {
            let start = partition_start + rng.gen_range(0..800);
            let end = start + rng.gen_range(50..1200);
            let groups = rng.gen_range(2..=3u8);
            let group_of = (0..n).map(|_| rng.gen_range(0..groups)).collect();
            partitions.push(Partition {
                start,
                end,
                group_of,
            });
            heal_at = heal_at.max(end);
            partition_start = end;
        }
        let mut crashes = Vec::new();
        if rng.gen_bool(0.4) {
            let honest: Vec<usize> = (0..n).filter(|i| byzantine[*i].is_none()).collect();
            for _ in 0..rng.gen_range(1..=3) {
                let node = *honest.choose(&mut rng).unwrap();
                let at = rng.gen_range(0..800);
                let restart_at = at + rng.gen_range(20..600);
                if crashes.iter().any(|c: &Crash| c.node == node) {
                    continue;
                }
                crashes.push(Crash {
                    node,
                    at,
                    restart_at,
                });
                heal_at = heal_at.max(restart_at);
            }
        }
        Scenario {
            seed,
            powers,
            byzantine,
            heights: rng.gen_range(2..=4),
            loss_per_mille: *[0, 0, 50, 100, 250].choose(&mut rng).unwrap(),
            duplicate_per_mille: *[0, 20, 100].choose(&mut rng).unwrap(),
            max_delay: *[5, 20, 60].choose(&mut rng).unwrap(),
            partitions,
            crashes,
            heal_at,
            keep_received_on_crash: true,
            mutation: None,
        }
    }
}
