//! Commit certificates: the signed precommits that prove a value was decided.

use std::collections::HashSet;

use crate::{
    context::Context,
    encoding::write_vote_sign_bytes,
    error::ConsensusError,
    types::{Height, Round, SignedVote, VoteType},
    validators::ValidatorSet,
};

/// Precommits for `value` at (`height`, `round`) from validators holding more than 2/3 of the
/// voting power. Enough for a light client that trusts the validator set of `height` to accept the
/// decision.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CommitCertificate<C: Context> {
    /// Decided height.
    pub height: Height,
    /// Round whose precommits decided it.
    pub round: Round,
    /// Decided value.
    pub value: C::ValueId,
    /// The precommits, one per validator.
    pub precommits: Vec<SignedVote<C>>,
}

impl<C: Context> CommitCertificate<C> {
    /// Checks that every precommit is for this height, round and value, comes from a distinct member
    /// of `validators` (the set of this height) and carries a valid signature, and that together they
    /// hold more than 2/3 of the voting power.
    pub fn verify(
        &self,
        chain_id: &str,
        validators: &ValidatorSet<C>,
    ) -> Result<(), ConsensusError> {
        let invalid = |reason| Err(ConsensusError::InvalidCertificate { reason });
        let mut seen = HashSet::with_capacity(self.precommits.len());
        let mut power: u64 = 0;
        let mut bytes = Vec::with_capacity(96);
        for precommit in &self.precommits {
            let vote = &precommit.vote;
            if vote.vote_type != VoteType::Precommit {
                return invalid("contains a vote that is not a precommit");
            }
            if vote.height != self.height || vote.round != self.round {
                return invalid("contains a precommit for another height or round");
            }
            if vote.value.as_ref() != Some(&self.value) {
                return invalid("contains a precommit for another value");
            }
            let Some(index) = validators.index_of(&vote.validator) else {
                return invalid("contains a precommit from a non-validator");
            };
            if !seen.insert(index) {
                return invalid("contains two precommits from one validator");
            }
            write_vote_sign_bytes(&mut bytes, chain_id, vote);
            if !C::verify(&vote.validator, &bytes, &precommit.signature) {
                return invalid("contains a precommit whose signature does not verify");
            }
            power = power.saturating_add(validators.get(index).map_or(0, |v| v.voting_power));
        }
        if !validators.is_quorum(power) {
            return invalid("precommits hold no more than 2/3 of the voting power");
        }
        Ok(())
    }
}
