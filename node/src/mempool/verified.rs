//! The hashes of transactions whose signatures the mempool has checked, so that a block carrying
//! them is not checked again (`SignaturePolicy::SkipVerified`).
//!
//! A transaction's hash covers its signature, so "this hash was verified" means "these exact
//! bytes carry a valid signature". The set holds:
//!
//! - every transaction in the pool;
//! - a bounded window of transactions that left the pool without being committed (evicted,
//!   replaced, dropped by a recheck): another validator whose pool still held one may propose it.
//!
//! A committed transaction is forgotten at once: its nonce is used, so it can never be valid in a
//! later block.
//!
//! The set sits behind a lock in a cloneable handle so that the consensus driver can check a
//! block's transactions on other threads while the pool goes on admitting.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{Arc, PoisonError, RwLock, RwLockWriteGuard},
};

use cairn_ledger::Hash;

/// A shared, read-only view of the verified hashes; cheap to clone, usable from any thread:
/// `SignaturePolicy::SkipVerified(&|hash| verified.contains(hash))`.
#[derive(Debug, Clone)]
pub struct VerifiedSignatures {
    inner: Arc<RwLock<VerifiedSet>>,
}

impl VerifiedSignatures {
    /// A set that remembers up to `retired_capacity` transactions after they leave the pool.
    pub(super) fn new(retired_capacity: usize) -> Self {
        VerifiedSignatures {
            inner: Arc::new(RwLock::new(VerifiedSet {
                retired_capacity,
                ..VerifiedSet::default()
            })),
        }
    }

    /// True if the transaction with this hash had its signature checked and found valid.
    pub fn contains(&self, hash: &Hash) -> bool {
        let set = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        set.pooled.contains(hash) || set.retired.contains_key(hash)
    }

    /// Exclusive access for the pool's updates. A panic elsewhere cannot leave the set in a state
    /// that is unsafe to read (at worst a hash is missing and gets checked again), so a poisoned
    /// lock is used as is.
    pub(super) fn write(&self) -> RwLockWriteGuard<'_, VerifiedSet> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Debug, Default)]
pub(super) struct VerifiedSet {
    /// The transactions in the pool.
    pooled: HashSet<Hash>,
    /// Transactions that left the pool uncommitted, with the sequence number of their entry in
    /// `retired_order`.
    retired: HashMap<Hash, u64>,
    /// Oldest first; an entry whose sequence number no longer matches `retired` is stale (the hash
    /// was forgotten or retired again later) and is skipped. Never longer than `retired_capacity`.
    retired_order: VecDeque<(Hash, u64)>,
    retired_capacity: usize,
    next_sequence: u64,
}

impl VerifiedSet {
    /// A transaction entered the pool with a valid signature.
    pub(super) fn add_pooled(&mut self, hash: Hash) {
        self.pooled.insert(hash);
    }

    /// A transaction left the pool without being committed; remember it for a while.
    pub(super) fn retire(&mut self, hash: &Hash) {
        if !self.pooled.remove(hash) || self.retired_capacity == 0 {
            return;
        }
        if self.retired_order.len() >= self.retired_capacity {
            if let Some((oldest, sequence)) = self.retired_order.pop_front() {
                if self.retired.get(&oldest) == Some(&sequence) {
                    self.retired.remove(&oldest);
                }
            }
        }
        let sequence = self.next_sequence;
        self.next_sequence = self.next_sequence.wrapping_add(1);
        self.retired.insert(*hash, sequence);
        self.retired_order.push_back((*hash, sequence));
    }

    /// A transaction was committed: it can never appear in a valid block again.
    pub(super) fn forget(&mut self, hash: &Hash) {
        self.pooled.remove(hash);
        self.retired.remove(hash);
    }

    #[cfg(test)]
    fn retired_len(&self) -> usize {
        self.retired.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(index: u64) -> Hash {
        Hash::digest(&index.to_le_bytes())
    }

    #[test]
    fn retired_hashes_are_kept_up_to_the_capacity_oldest_out_first() {
        let verified = VerifiedSignatures::new(3);
        {
            let mut set = verified.write();
            for index in 0..5 {
                set.add_pooled(hash(index));
            }
            for index in 0..5 {
                set.retire(&hash(index));
            }
            assert_eq!(set.retired_len(), 3);
        }
        assert!(!verified.contains(&hash(0)));
        assert!(!verified.contains(&hash(1)));
        assert!((2..5).all(|index| verified.contains(&hash(index))));
    }

    #[test]
    fn committed_hashes_are_forgotten_and_stale_order_entries_are_harmless() {
        let verified = VerifiedSignatures::new(2);
        let mut set = verified.write();
        set.add_pooled(hash(0));
        set.retire(&hash(0));
        set.forget(&hash(0));
        assert!(!set.retired.contains_key(&hash(0)));
        // Re-admitted and retired again: the stale first entry must not evict the second.
        set.add_pooled(hash(0));
        set.retire(&hash(0));
        set.add_pooled(hash(1));
        set.retire(&hash(1));
        assert!(set.retired.contains_key(&hash(0)) && set.retired.contains_key(&hash(1)));
        assert!(set.retired_order.len() <= 2);
    }

    #[test]
    fn retiring_an_unknown_hash_does_not_make_it_verified() {
        let verified = VerifiedSignatures::new(4);
        verified.write().retire(&hash(9));
        assert!(!verified.contains(&hash(9)));
    }
}
