//! Evidence of equivocation: two different messages signed by one validator for the same height,
//! round and step. Both signed messages travel with the evidence, so anyone holding the validator
//! set of that height can verify it.

use crate::{
    context::Context,
    encoding::{proposal_sign_bytes, vote_sign_bytes},
    error::ConsensusError,
    types::{Height, Round, SignedProposal, SignedVote, Step},
    validators::ValidatorSet,
};

/// Proof that a validator signed two conflicting messages.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Evidence<C: Context> {
    /// Two different votes of one type, by one validator, for the same height and round.
    ConflictingVotes {
        /// The vote seen first.
        first: SignedVote<C>,
        /// The conflicting vote.
        second: SignedVote<C>,
    },
    /// Two different proposals by one proposer for the same height and round.
    ConflictingProposals {
        /// The proposal seen first.
        first: SignedProposal<C>,
        /// The conflicting proposal.
        second: SignedProposal<C>,
    },
}

impl<C: Context> Evidence<C> {
    /// The validator that equivocated.
    pub fn offender(&self) -> &C::PublicKey {
        match self {
            Evidence::ConflictingVotes { first, .. } => &first.vote.validator,
            Evidence::ConflictingProposals { first, .. } => &first.proposal.proposer,
        }
    }

    /// Height of the conflicting messages.
    pub fn height(&self) -> Height {
        match self {
            Evidence::ConflictingVotes { first, .. } => first.vote.height,
            Evidence::ConflictingProposals { first, .. } => first.proposal.height,
        }
    }

    /// Round of the conflicting messages.
    pub fn round(&self) -> Round {
        match self {
            Evidence::ConflictingVotes { first, .. } => first.vote.round,
            Evidence::ConflictingProposals { first, .. } => first.proposal.round,
        }
    }

    /// Step (slot) of the conflicting messages.
    pub fn step(&self) -> Step {
        match self {
            Evidence::ConflictingVotes { first, .. } => first.vote.vote_type.step(),
            Evidence::ConflictingProposals { .. } => Step::Propose,
        }
    }

    /// Checks that both messages are for the same slot, differ, are signed by the same member of
    /// `validators` (the set of the evidence's height), and that both signatures verify.
    pub fn verify(
        &self,
        chain_id: &str,
        validators: &ValidatorSet<C>,
    ) -> Result<(), ConsensusError> {
        let invalid = |reason| Err(ConsensusError::InvalidEvidence { reason });
        match self {
            Evidence::ConflictingVotes { first, second } => {
                let (a, b) = (&first.vote, &second.vote);
                if a.validator != b.validator {
                    return invalid("votes are from different validators");
                }
                if (a.height, a.round, a.vote_type) != (b.height, b.round, b.vote_type) {
                    return invalid("votes are for different slots");
                }
                if a.value == b.value {
                    return invalid("votes do not conflict");
                }
                if validators.index_of(&a.validator).is_none() {
                    return invalid("offender is not a validator");
                }
                let sig_ok = |v: &SignedVote<C>| {
                    C::verify(
                        &v.vote.validator,
                        &vote_sign_bytes(chain_id, &v.vote),
                        &v.signature,
                    )
                };
                if !sig_ok(first) || !sig_ok(second) {
                    return invalid("a signature does not verify");
                }
            }
            Evidence::ConflictingProposals { first, second } => {
                let (a, b) = (&first.proposal, &second.proposal);
                if a.proposer != b.proposer {
                    return invalid("proposals are from different validators");
                }
                if (a.height, a.round) != (b.height, b.round) {
                    return invalid("proposals are for different slots");
                }
                if a == b {
                    return invalid("proposals do not conflict");
                }
                if validators.index_of(&a.proposer).is_none() {
                    return invalid("offender is not a validator");
                }
                let sig_ok = |p: &SignedProposal<C>| {
                    C::verify(
                        &p.proposal.proposer,
                        &proposal_sign_bytes(chain_id, &p.proposal),
                        &p.signature,
                    )
                };
                if !sig_ok(first) || !sig_ok(second) {
                    return invalid("a signature does not verify");
                }
            }
        }
        Ok(())
    }
}
