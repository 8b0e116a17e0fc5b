//! Settings of the core: chain id, timeouts, and the bounds on what it buffers.

use std::time::Duration;

use crate::{encoding::check_chain_id, error::ConsensusError, types::Round};

/// A timeout that grows linearly with the round, so that after the network stabilises some round
/// lasts long enough for every correct validator to hear from every other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeoutSchedule {
    /// Duration in round 0.
    pub base: Duration,
    /// Added for each further round.
    pub per_round: Duration,
}

impl TimeoutSchedule {
    /// The duration in `round` (saturating).
    pub fn duration(&self, round: Round) -> Duration {
        self.base
            .saturating_add(self.per_round.saturating_mul(round.0))
    }
}

/// The three timeouts of the paper.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// `timeoutPropose`: how long to wait for the round's proposal.
    pub propose: TimeoutSchedule,
    /// `timeoutPrevote`: how long to wait after any 2/3 of prevotes.
    pub prevote: TimeoutSchedule,
    /// `timeoutPrecommit`: how long to wait after any 2/3 of precommits.
    pub precommit: TimeoutSchedule,
}

impl Default for Timeouts {
    fn default() -> Self {
        let ms = Duration::from_millis;
        Timeouts {
            propose: TimeoutSchedule {
                base: ms(3000),
                per_round: ms(500),
            },
            prevote: TimeoutSchedule {
                base: ms(1000),
                per_round: ms(500),
            },
            precommit: TimeoutSchedule {
                base: ms(1000),
                per_round: ms(500),
            },
        }
    }
}

/// Settings of a [`crate::Consensus`] instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    chain_id: String,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// Votes and proposals for rounds more than this far above the current round are not stored
    /// (their sender's round still counts towards skipping rounds). Bounds memory per height.
    pub max_future_rounds: u32,
    /// Messages for heights up to this far above the current one are buffered until that height
    /// starts; higher ones are refused.
    pub max_future_heights: u64,
    /// Total capacity of the future-height buffer.
    pub max_buffered_messages: usize,
    /// Capacity of the future-height buffer per signer, so one peer cannot fill it.
    pub max_buffered_per_signer: usize,
}

impl Config {
    /// Defaults for a chain.
    pub fn new(chain_id: impl Into<String>) -> Result<Self, ConsensusError> {
        let chain_id = chain_id.into();
        check_chain_id(&chain_id)?;
        Ok(Config {
            chain_id,
            timeouts: Timeouts::default(),
            max_future_rounds: 32,
            max_future_heights: 2,
            max_buffered_messages: 8192,
            max_buffered_per_signer: 256,
        })
    }

    /// The chain id, part of every signed message.
    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }
}
