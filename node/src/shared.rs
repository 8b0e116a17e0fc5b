//! What the node's tasks share: the store, the mempool, the network handle, the stream of committed
//! blocks and the metrics.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc, Mutex, MutexGuard, PoisonError,
};

use cairn_consensus::ValidatorSet;
use cairn_genesis::Genesis;
use cairn_ledger::{LedgerStore, PublicKey};
use cairn_rpc::backend::CommittedBlock;
use tokio::sync::{broadcast, mpsc};

use crate::{
    context::CairnContext,
    mempool::{Mempool, VerifiedSignatures},
    metrics::Metrics,
    network::NetHandle,
};

/// Committed blocks kept for slow subscribers before they lag.
pub const BLOCK_EVENTS_CAPACITY: usize = 256;

#[derive(Debug)]
pub struct Shared {
    pub genesis: Genesis,
    pub genesis_set: ValidatorSet<CairnContext>,
    pub store: Arc<LedgerStore>,
    pub mempool: Mutex<Mempool>,
    /// The mempool's verified signatures, readable while the pool is locked.
    pub verified: VerifiedSignatures,
    pub net: NetHandle,
    /// Committed blocks, announced after each commit.
    pub blocks: broadcast::Sender<Arc<CommittedBlock>>,
    /// Transactions this node admitted, to be gossiped in batches.
    pub tx_gossip: mpsc::Sender<Vec<u8>>,
    pub syncing: AtomicBool,
    pub metrics: Metrics,
    /// This node's validator key, when it has one.
    pub validator: Option<PublicKey>,
    pub moniker: String,
}

impl Shared {
    /// Locks the mempool. A panic while it was held leaves it usable: every mempool method keeps
    /// its invariants before it can panic, and it cannot panic on outside input.
    pub fn mempool(&self) -> MutexGuard<'_, Mempool> {
        self.mempool.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn is_syncing(&self) -> bool {
        self.syncing.load(Ordering::Relaxed)
    }

    pub fn set_syncing(&self, syncing: bool) {
        self.syncing.store(syncing, Ordering::Relaxed);
        self.metrics.syncing.set(i64::from(syncing));
    }

    /// Refreshes the mempool gauges.
    pub fn update_mempool_metrics(&self, len: usize, bytes: usize) {
        self.metrics
            .mempool_transactions
            .set(i64::try_from(len).unwrap_or(i64::MAX));
        self.metrics
            .mempool_bytes
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }
}
