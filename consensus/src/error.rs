//! The one error type of the crate.

use crate::types::{Height, Round};

/// Why the core refused an input, or why a certificate, evidence or validator set is invalid.
///
/// Refusing a message is routine (a stale height, a peer that is not a validator); the node logs it
/// and moves on. [`ConsensusError::is_misbehaviour`] tells apart the refusals that only a faulty or
/// malicious peer can cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsensusError {
    /// An input arrived before the first `StartHeight`.
    #[error("consensus has not started a height yet")]
    NotStarted,
    /// A message for a height that is already decided here.
    #[error("message for height {message_height} but consensus is at height {consensus_height}")]
    StaleHeight {
        /// Height of the message.
        message_height: Height,
        /// Height consensus is working on.
        consensus_height: Height,
    },
    /// A message for a height too far ahead to buffer.
    #[error("message for height {message_height} is more than {max_ahead} heights ahead of {consensus_height}")]
    HeightTooFarAhead {
        /// Height of the message.
        message_height: Height,
        /// Height consensus is working on.
        consensus_height: Height,
        /// How many heights ahead are buffered.
        max_ahead: u64,
    },
    /// The buffer of messages for future heights is full.
    #[error("buffer of future-height messages is full ({capacity} messages)")]
    FutureBufferFull {
        /// Total or per-sender capacity that was hit.
        capacity: usize,
    },
    /// `StartHeight` for a height that is not above the current one.
    #[error("cannot start height {requested}: consensus is at height {current}")]
    HeightNotIncreasing {
        /// Requested height.
        requested: Height,
        /// Current height.
        current: Height,
    },
    /// The signer of a message is not in the validator set of its height.
    #[error("signer is not a validator at height {height}")]
    UnknownValidator {
        /// Height of the message.
        height: Height,
    },
    /// A signature does not verify.
    #[error("invalid signature on a {kind} at height {height}, round {round}")]
    InvalidSignature {
        /// "proposal", "prevote" or "precommit".
        kind: &'static str,
        /// Height of the message.
        height: Height,
        /// Round of the message.
        round: Round,
    },
    /// A proposal signed by someone other than the round's proposer.
    #[error("proposal at height {height}, round {round} is not from the round's proposer")]
    NotTheProposer {
        /// Height of the proposal.
        height: Height,
        /// Round of the proposal.
        round: Round,
    },
    /// A proposal whose proof-of-lock round is not below its round.
    #[error(
        "proposal at round {round} carries proof-of-lock round {pol_round}, which is not below it"
    )]
    InvalidPolRound {
        /// Round of the proposal.
        round: Round,
        /// The offending proof-of-lock round.
        pol_round: Round,
    },
    /// A validator set with no validators.
    #[error("validator set is empty")]
    EmptyValidatorSet,
    /// A validator listed with zero voting power.
    #[error("validator at position {position} has zero voting power")]
    ZeroVotingPower {
        /// Position in the list given.
        position: usize,
    },
    /// The same key listed twice.
    #[error("validator at position {position} is listed twice")]
    DuplicateValidator {
        /// Position of the second occurrence.
        position: usize,
    },
    /// Total voting power above the bound that keeps proposer priorities from overflowing.
    #[error("total voting power exceeds {max}")]
    TotalVotingPowerTooLarge {
        /// The bound.
        max: u64,
    },
    /// A chain id too long for the canonical encoding.
    #[error("chain id is {len} bytes long, at most {max} allowed")]
    ChainIdTooLong {
        /// Its length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// A commit certificate that does not prove a decision.
    #[error("invalid commit certificate: {reason}")]
    InvalidCertificate {
        /// What is wrong.
        reason: &'static str,
    },
    /// Evidence that does not prove misbehaviour.
    #[error("invalid evidence: {reason}")]
    InvalidEvidence {
        /// What is wrong.
        reason: &'static str,
    },
}

impl ConsensusError {
    /// Whether only a faulty or malicious peer can cause this refusal (a forged signature, a
    /// proposal from the wrong proposer, a bad proof-of-lock round). Peers that trigger these may be
    /// disconnected; the other refusals happen in normal operation.
    pub fn is_misbehaviour(&self) -> bool {
        matches!(
            self,
            ConsensusError::InvalidSignature { .. }
                | ConsensusError::NotTheProposer { .. }
                | ConsensusError::InvalidPolRound { .. }
                | ConsensusError::InvalidCertificate { .. }
                | ConsensusError::InvalidEvidence { .. }
        )
    }
}
