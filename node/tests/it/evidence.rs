//! Evidence as blocks carry it: only canonical, verifiable, past equivocations by validators.

use cairn_consensus::{
    encoding::vote_sign_bytes, Evidence, Round, SignedVote, Validator, ValidatorSet, Vote, VoteType,
};
use cairn_ledger::testing::test_key;
use cairn_node::{
    context::CairnContext,
    evidence::{canonical_bytes, check, EvidencePool},
    wire::{self, WireEvidence},
};

const CHAIN: &str = "cairn-test";

fn validators() -> ValidatorSet<CairnContext> {
    ValidatorSet::new(
        (0..4)
            .map(|i| Validator {
                public_key: test_key(i).public_key(),
                voting_power: 1,
            })
            .collect(),
    )
    .unwrap()
}

fn prevote(key_index: u64, height: u64, value: u8, chain: &str) -> SignedVote<CairnContext> {
    let key = test_key(key_index);
    let vote = Vote {
        height,
        round: Round(0),
        vote_type: VoteType::Prevote,
        value: Some([value; 32]),
        validator: key.public_key(),
    };
    let signature = key.sign(&vote_sign_bytes::<CairnContext>(chain, &vote));
    SignedVote { vote, signature }
}

fn equivocation(key_index: u64, height: u64, chain: &str) -> Evidence<CairnContext> {
    Evidence::ConflictingVotes {
        first: prevote(key_index, height, 1, chain),
        second: prevote(key_index, height, 2, chain),
    }
}

#[test]
fn canonical_evidence_of_an_earlier_height_is_accepted() {
    let bytes = canonical_bytes(&equivocation(1, 5, CHAIN));
    check(&bytes, CHAIN, &validators(), 6).unwrap();
    check(&bytes, CHAIN, &validators(), 100).unwrap();
}

#[test]
fn both_orders_give_the_same_bytes_and_only_those_pass() {
    let evidence = equivocation(1, 5, CHAIN);
    let Evidence::ConflictingVotes { first, second } = evidence.clone() else {
        unreachable!()
    };
    let swapped = Evidence::ConflictingVotes {
        first: second,
        second: first,
    };
    assert_eq!(canonical_bytes(&evidence), canonical_bytes(&swapped));
    let canonical = canonical_bytes(&evidence);
    let other_order = [
        wire::encode(&WireEvidence::from(&evidence)),
        wire::encode(&WireEvidence::from(&swapped)),
    ]
    .into_iter()
    .find(|bytes| *bytes != canonical)
    .unwrap();
    assert!(check(&other_order, CHAIN, &validators(), 6).is_err());
}

#[test]
fn bad_evidence_is_refused() {
    // Not before the block.
    let bytes = canonical_bytes(&equivocation(1, 5, CHAIN));
    assert!(check(&bytes, CHAIN, &validators(), 5).is_err());
    // Another chain's signatures.
    let bytes = canonical_bytes(&equivocation(1, 5, "other-chain"));
    assert!(check(&bytes, CHAIN, &validators(), 6).is_err());
    // Not a validator.
    let bytes = canonical_bytes(&equivocation(9, 5, CHAIN));
    assert!(check(&bytes, CHAIN, &validators(), 6).is_err());
    // Not a conflict.
    let same = Evidence::ConflictingVotes {
        first: prevote(1, 5, 1, CHAIN),
        second: prevote(1, 5, 1, CHAIN),
    };
    assert!(check(&canonical_bytes(&same), CHAIN, &validators(), 6).is_err());
    // Not evidence at all, or too large.
    assert!(check(&[1, 2, 3], CHAIN, &validators(), 6).is_err());
    assert!(check(&vec![0; 4096], CHAIN, &validators(), 6).is_err());
}

#[test]
fn the_pool_deduplicates_skips_committed_and_forgets_included() {
    let mut pool = EvidencePool::default();
    let a = canonical_bytes(&equivocation(1, 5, CHAIN));
    let b = canonical_bytes(&equivocation(2, 5, CHAIN));
    assert!(pool.add(5, a.clone()));
    assert!(!pool.add(5, a.clone()));
    assert!(pool.add(5, b.clone()));
    assert_eq!(pool.for_block(6, |_| false), vec![a.clone(), b.clone()]);
    let a_hash = cairn_ledger::Hash::digest(&a);
    assert_eq!(pool.for_block(6, |hash| *hash == a_hash), vec![b.clone()]);
    pool.remove_committed(std::slice::from_ref(&a));
    assert_eq!(pool.len(), 1);
}

#[test]
fn evidence_of_the_height_being_decided_waits_for_the_next_block() {
    // Validators refuse a block carrying evidence of its own height; a proposer that put it in
    // would fail every round of that height.
    let mut pool = EvidencePool::default();
    let bytes = canonical_bytes(&equivocation(1, 5, CHAIN));
    pool.add(5, bytes.clone());
    assert!(pool.for_block(5, |_| false).is_empty());
    assert!(check(&bytes, CHAIN, &validators(), 5).is_err());
    assert_eq!(pool.for_block(6, |_| false), vec![bytes.clone()]);
    check(&bytes, CHAIN, &validators(), 6).unwrap();
}
