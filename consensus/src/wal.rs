//! The write-ahead-log contract, and how a restart is restored from the log.
//!
//! The core owns no storage. Every message it signs leaves it as
//! [`Output::PersistAndBroadcast`](crate::Output::PersistAndBroadcast); the node appends it to its
//! log, makes the write durable, and only then broadcasts it. On restart the node hands the entries of
//! the height it resumes back in [`Input::StartHeight`](crate::Input::StartHeight), and the core:
//!
//! - remembers each entry as the message signed for its (round, step) slot, so it re-sends that exact
//!   message rather than signing a different one ([`SignedSlots`]);
//! - restores its round and step to the latest slot it signed;
//! - restores its lock: the paper sets `lockedValue`/`lockedRound` exactly when it precommits a
//!   value (L38-L40), so the latest non-nil own precommit *is* the lock.
//!
//! Nothing else needs to survive a crash for safety: `validValue`/`validRound` only affect liveness
//! (they are restored to the lock, a safe choice), and received messages arrive again by gossip.
//! For liveness the node should still log the messages it receives and feed them again after the
//! restart, as CometBFT does: a lock may rest on a proof of lock (a byzantine validator's vote among
//! them) that no other correct node holds. The log may be truncated once a height is decided.

use std::collections::BTreeMap;

use crate::{
    context::Context,
    types::{Height, Round, SignedMessage, Step},
};

/// The messages this node signed at the current height, one per (round, step) slot.
#[derive(Debug)]
pub struct SignedSlots<C: Context> {
    slots: BTreeMap<(Round, Step), SignedMessage<C>>,
}

impl<C: Context> Default for SignedSlots<C> {
    fn default() -> Self {
        SignedSlots {
            slots: BTreeMap::new(),
        }
    }
}

impl<C: Context> SignedSlots<C> {
    /// What was signed for a slot, if anything.
    pub fn get(&self, round: Round, step: Step) -> Option<&SignedMessage<C>> {
        self.slots.get(&(round, step))
    }

    /// Records a signed message; refuses (returns false) if its slot already holds a different one.
    pub fn record(&mut self, message: SignedMessage<C>) -> bool {
        let key = (message.round(), message.step());
        match self.slots.get(&key) {
            Some(existing) => *existing == message,
            None => {
                self.slots.insert(key, message);
                true
            }
        }
    }

    /// All recorded messages, by slot.
    pub fn iter(&self) -> impl Iterator<Item = &SignedMessage<C>> {
        self.slots.values()
    }
}

/// The state recovered from the log entries of one height.
#[derive(Debug)]
pub struct Restored<C: Context> {
    /// The round of the latest signed slot.
    pub round: Round,
    /// The step of the latest signed slot (the step the node was at when it signed it).
    pub step: Step,
    /// The lock: the latest own non-nil precommit.
    pub locked: Option<(Round, C::ValueId)>,
    /// The entries, one per slot.
    pub slots: SignedSlots<C>,
}

/// Recovers the state of `height` from log entries. Entries of other heights or by other keys are
/// ignored; if two entries conflict for one slot (a log written by a faulty node), the first is kept.
/// Returns `None` when nothing was signed at this height.
pub fn restore<C: Context>(
    height: Height,
    own_key: &C::PublicKey,
    entries: impl IntoIterator<Item = SignedMessage<C>>,
) -> Option<Restored<C>> {
    let mut slots = SignedSlots::default();
    for entry in entries {
        if entry.height() == height && entry.signer() == own_key {
            slots.record(entry);
        }
    }
    let (&(round, step), _) = slots.slots.iter().next_back()?;
    let locked = slots
        .slots
        .iter()
        .rev()
        .find_map(|((r, s), m)| match (s, m) {
            (Step::Precommit, SignedMessage::Vote(v)) => v.vote.value.clone().map(|v| (*r, v)),
            _ => None,
        });
    Some(Restored {
        round,
        step,
        locked,
        slots,
    })
}
