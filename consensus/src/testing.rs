//! Test doubles: a keyless signing scheme, and builders of validator sets and messages.
//!
//! The "signature" is a keyed hash that anyone can compute, so it proves nothing against an
//! adversary; it is only good for deterministic tests and benchmarks, where byzantine validators
//! sign with their own keys by construction.

use crate::{
    context::{Context, Signer},
    encoding::{proposal_sign_bytes, vote_sign_bytes},
    error::ConsensusError,
    types::{Height, Proposal, Round, SignedProposal, SignedVote, Vote, VoteType},
    validators::{Validator, ValidatorSet},
};

/// Value ids are `u64`, keys are `u32` validator numbers, signatures are 64-bit keyed hashes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TestContext;

/// The test signature of `message` by key `key`.
pub fn test_signature(key: u32, message: &[u8]) -> u64 {
    // FNV-1a over the key then the message, finished with a splitmix64 round.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.to_be_bytes().iter().chain(message) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

impl Context for TestContext {
    type ValueId = u64;
    type PublicKey = u32;
    type Signature = u64;

    fn verify(public_key: &u32, message: &[u8], signature: &u64) -> bool {
        test_signature(*public_key, message) == *signature
    }
}

/// Signs as validator `key`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TestSigner(pub u32);

impl Signer<TestContext> for TestSigner {
    fn public_key(&self) -> &u32 {
        &self.0
    }

    fn sign(&self, message: &[u8]) -> u64 {
        test_signature(self.0, message)
    }
}

/// A set of validators `0..powers.len()` with the given voting powers.
pub fn test_validator_set(powers: &[u64]) -> Result<ValidatorSet<TestContext>, ConsensusError> {
    let validators = powers
        .iter()
        .zip(0u32..)
        .map(|(p, key)| Validator {
            public_key: key,
            voting_power: *p,
        })
        .collect();
    ValidatorSet::new(validators)
}

/// A vote signed by `key`.
pub fn signed_vote(
    chain_id: &str,
    key: u32,
    height: Height,
    round: Round,
    vote_type: VoteType,
    value: Option<u64>,
) -> SignedVote<TestContext> {
    let vote = Vote {
        height,
        round,
        vote_type,
        value,
        validator: key,
    };
    let signature = test_signature(key, &vote_sign_bytes(chain_id, &vote));
    SignedVote { vote, signature }
}

/// A proposal signed by `key`.
pub fn signed_proposal(
    chain_id: &str,
    key: u32,
    height: Height,
    round: Round,
    value: u64,
    pol_round: Option<Round>,
) -> SignedProposal<TestContext> {
    let proposal = Proposal {
        height,
        round,
        value,
        pol_round,
        proposer: key,
    };
    let signature = test_signature(key, &proposal_sign_bytes(chain_id, &proposal));
    SignedProposal {
        proposal,
        signature,
    }
}
