//! Messages for heights this node has not started yet, held until they matter.
//!
//! Peers that decide a height first move on and start sending messages for the next one; those must
//! not be lost, or this node would wait for gossip to resend them. The buffer is bounded in total
//! and per signer, and only accepts messages whose signature verifies (membership can only be
//! checked once the height's validator set is known).

use std::collections::{HashMap, HashSet};

use crate::{
    config::Config,
    context::Context,
    error::ConsensusError,
    types::{Height, SignedMessage},
};

/// Bounded store of future-height messages.
#[derive(Debug)]
pub struct FutureBuffer<C: Context> {
    messages: Vec<SignedMessage<C>>,
    present: HashSet<SignedMessage<C>>,
    per_signer: HashMap<C::PublicKey, usize>,
}

impl<C: Context> Default for FutureBuffer<C> {
    fn default() -> Self {
        FutureBuffer {
            messages: Vec::new(),
            present: HashSet::new(),
            per_signer: HashMap::new(),
        }
    }
}

impl<C: Context> FutureBuffer<C> {
    /// Number of buffered messages.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Buffers a message (its signature already checked), unless a bound is hit.
    pub fn push(
        &mut self,
        message: SignedMessage<C>,
        config: &Config,
    ) -> Result<(), ConsensusError> {
        if self.present.contains(&message) {
            return Ok(());
        }
        if self.messages.len() >= config.max_buffered_messages {
            return Err(ConsensusError::FutureBufferFull {
                capacity: config.max_buffered_messages,
            });
        }
        let count = self.per_signer.entry(message.signer().clone()).or_insert(0);
        if *count >= config.max_buffered_per_signer {
            return Err(ConsensusError::FutureBufferFull {
                capacity: config.max_buffered_per_signer,
            });
        }
        *count += 1;
        self.present.insert(message.clone());
        self.messages.push(message);
        Ok(())
    }

    /// Removes every message at or below `height` and returns those at `height`, in arrival order.
    pub fn take(&mut self, height: Height) -> Vec<SignedMessage<C>> {
        let (keep, taken): (Vec<_>, Vec<_>) = std::mem::take(&mut self.messages)
            .into_iter()
            .partition(|m| m.height() > height);
        self.messages = keep;
        self.per_signer.clear();
        self.present.clear();
        for m in &self.messages {
            self.present.insert(m.clone());
            *self.per_signer.entry(m.signer().clone()).or_insert(0) += 1;
        }
        taken.into_iter().filter(|m| m.height() == height).collect()
    }
}
