//! Property tests of the invariants the core relies on.

use cairn_consensus::{
    encoding::vote_sign_bytes,
    testing::{signed_vote, test_validator_set, TestContext},
    CommitCertificate, Round, Vote, VoteKeeper, VoteOutcome, VoteType,
};
use proptest::prelude::*;

use crate::harness::CHAIN;

proptest! {
    /// From equal starting priorities, every window of `total_power` rounds gives each validator
    /// exactly as many proposals as it has voting power.
    #[test]
    fn proposer_frequency_equals_voting_power(powers in prop::collection::vec(1u64..=12, 1..=10)) {
        let set = test_validator_set(&powers).unwrap();
        let total = set.total_voting_power();
        let mut count = vec![0u64; powers.len()];
        let mut schedule = cairn_consensus::ProposerSchedule::new(&set);
        for round in 0..total {
            count[schedule.proposer_index(&set, Round(round as u32))] += 1;
        }
        let expected: Vec<u64> = set.validators().iter().map(|v| v.voting_power).collect();
        prop_assert_eq!(count, expected);
    }

    /// Canonical bytes are injective over the fields they cover.
    #[test]
    fn vote_sign_bytes_are_injective(
        a in (0u64..4, 0u32..4, any::<bool>(), prop::option::of(0u64..4)),
        b in (0u64..4, 0u32..4, any::<bool>(), prop::option::of(0u64..4)),
    ) {
        let vote = |(height, round, precommit, value): (u64, u32, bool, Option<u64>)| Vote::<TestContext> {
            height,
            round: Round(round),
            vote_type: if precommit { VoteType::Precommit } else { VoteType::Prevote },
            value,
            validator: 0,
        };
        let (va, vb) = (vote(a), vote(b));
        prop_assert_eq!(va == vb, vote_sign_bytes(CHAIN, &va) == vote_sign_bytes(CHAIN, &vb));
    }

    /// A certificate verifies exactly when its distinct signers hold more than 2/3 of the power.
    #[test]
    fn certificate_verifies_iff_signers_hold_a_quorum(
        powers in prop::collection::vec(1u64..=10, 1..=8),
        signers in prop::collection::vec(any::<bool>(), 8),
    ) {
        let set = test_validator_set(&powers).unwrap();
        let keys: Vec<u32> = (0..powers.len() as u32).filter(|k| signers[*k as usize]).collect();
        let power: u64 = keys.iter().map(|k| powers[*k as usize]).sum();
        let certificate = CommitCertificate::<TestContext> {
            height: 1,
            round: Round(0),
            value: 5,
            precommits: keys
                .iter()
                .map(|k| signed_vote(CHAIN, *k, 1, Round(0), VoteType::Precommit, Some(5)))
                .collect(),
        };
        prop_assert_eq!(certificate.verify(CHAIN, &set).is_ok(), set.is_quorum(power));
    }

    /// The tally does not depend on arrival order or duplicates: each validator's first vote counts
    /// once, and total power never exceeds the set's.
    #[test]
    fn tally_counts_each_validator_once(
        votes in prop::collection::vec((0u32..5, prop::option::of(0u64..3)), 0..40),
    ) {
        let powers = [1u64, 2, 3, 4, 5];
        let mut keeper = VoteKeeper::<TestContext>::new(powers.len());
        let mut first: Vec<Option<Option<u64>>> = vec![None; powers.len()];
        for (k, value) in votes {
            let v = signed_vote(CHAIN, k, 1, Round(0), VoteType::Prevote, value);
            let outcome = keeper.add(k as usize, powers[k as usize], v, false);
            match first[k as usize] {
                None => {
                    prop_assert!(matches!(outcome, VoteOutcome::Counted));
                    first[k as usize] = Some(value);
                }
                Some(f) if f == value => prop_assert!(matches!(outcome, VoteOutcome::Duplicate)),
                Some(_) => prop_assert!(
                    matches!(outcome, VoteOutcome::Equivocation { .. }),
                    "a conflicting vote is equivocation"
                ),
            }
        }
        let total: u64 = first
            .iter()
            .zip(powers)
            .filter(|(f, _)| f.is_some())
            .map(|(_, p)| p)
            .sum();
        prop_assert_eq!(keeper.total_power(Round(0), VoteType::Prevote), total);
        for value in [None, Some(0), Some(1), Some(2)] {
            let expected: u64 = first
                .iter()
                .zip(powers)
                .filter(|(f, _)| **f == Some(value))
                .map(|(_, p)| p)
                .sum();
            prop_assert_eq!(
                keeper.power_for(Round(0), VoteType::Prevote, value.as_ref()),
                expected
            );
        }
    }
}
