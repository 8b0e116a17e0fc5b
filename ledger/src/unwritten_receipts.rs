//! Receipts of committed blocks that the transaction index does not hold yet.
//!
//! The `tx_index` family takes its records at checkpoints only, as the flat accounts and the
//! tree's pages do (see [`crate::store`]). A block of 10,000 transfers puts 10,000 records at
//! random keys into RocksDB's memtable, about a twentieth of a block's CPU at a million
//! accounts; a checkpoint writes 64 blocks' worth in key order, behind the blocks that follow,
//! off the commit's path. Between two checkpoints each block's receipts are held here, sorted by
//! transaction hash, and a lookup searches each block's list: some sixty binary searches, a few
//! microseconds, for a wallet asking after its transaction.
//!
//! A checkpoint's receipts are written behind the blocks that follow it. Until they are, they
//! stay here as a generation of their own, beside the receipts of the blocks since.

use std::sync::Arc;

use crate::{block::Receipt, hash::Hash};

/// Receipts of consecutive blocks, each block's sorted by transaction hash.
pub(crate) type BlockReceipts = Vec<Vec<Receipt>>;

#[derive(Default)]
pub(crate) struct UnwrittenReceipts {
    /// Of the blocks since the last checkpoint.
    since_checkpoint: BlockReceipts,
    /// Of the blocks through the last checkpoint, while they are being written.
    checkpointing: Option<Arc<BlockReceipts>>,
}

impl UnwrittenReceipts {
    pub(crate) fn get(&self, tx_hash: &Hash) -> Option<Receipt> {
        let find = |blocks: &BlockReceipts| {
            blocks.iter().find_map(|receipts| {
                receipts
                    .binary_search_by(|receipt| receipt.tx_hash.cmp(tx_hash))
                    .ok()
                    .map(|found| receipts[found].clone())
            })
        };
        find(&self.since_checkpoint).or_else(|| self.checkpointing.as_deref().and_then(find))
    }

    /// Takes in the receipts of a committed block.
    pub(crate) fn record(&mut self, receipts: &[Receipt]) {
        self.record_sorted(sort_block(receipts));
    }

    /// Takes in the receipts of a committed block, as [`sort_block`] gave them.
    pub(crate) fn record_sorted(&mut self, sorted: Vec<Receipt>) {
        self.since_checkpoint.push(sorted);
    }

    /// The receipts a checkpoint writes: those of every block since the last. They stay readable
    /// here until [`UnwrittenReceipts::checkpoint_written`]. The checkpoint before must be
    /// written by now.
    pub(crate) fn begin_checkpoint(&mut self) -> Arc<BlockReceipts> {
        let room = Vec::with_capacity(self.since_checkpoint.len());
        let receipts = Arc::new(std::mem::replace(&mut self.since_checkpoint, room));
        self.checkpointing = Some(Arc::clone(&receipts));
        receipts
    }

    /// Lets go of the receipts the last checkpoint wrote.
    pub(crate) fn checkpoint_written(&mut self) {
        self.checkpointing = None;
    }
}

/// A block's receipts as they are held: sorted by transaction hash. Sorting takes no lock, so
/// a commit does it while its block's batch is written.
pub(crate) fn sort_block(receipts: &[Receipt]) -> Vec<Receipt> {
    let mut sorted = receipts.to_vec();
    sorted.sort_unstable_by_key(|receipt| receipt.tx_hash);
    sorted
}

/// `blocks`' receipts in one list sorted by transaction hash, as a checkpoint writes them.
pub(crate) fn sorted(blocks: &BlockReceipts) -> Vec<&Receipt> {
    let mut sorted: Vec<&Receipt> = blocks.iter().flatten().collect();
    sorted.sort_unstable_by_key(|receipt| receipt.tx_hash);
    sorted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::Address;

    fn receipt(first: u8, height: u64) -> Receipt {
        Receipt {
            tx_hash: Hash([first; 32]),
            height,
            index: 0,
            sender: Address([first; 20]),
            nonce: 0,
            fee_paid: 1,
        }
    }

    #[test]
    fn receipts_stay_found_until_their_checkpoint_is_written() {
        let mut unwritten = UnwrittenReceipts::default();
        unwritten.record(&[receipt(3, 1), receipt(1, 1)]);
        unwritten.record(&[receipt(2, 2)]);
        assert_eq!(unwritten.get(&Hash([1; 32])), Some(receipt(1, 1)));
        assert_eq!(unwritten.get(&Hash([2; 32])), Some(receipt(2, 2)));
        assert_eq!(unwritten.get(&Hash([4; 32])), None);
        let checkpoint = unwritten.begin_checkpoint();
        let hashes: Vec<Hash> = sorted(&checkpoint).iter().map(|r| r.tx_hash).collect();
        assert_eq!(hashes, vec![Hash([1; 32]), Hash([2; 32]), Hash([3; 32])]);
        // A block after the checkpoint comes in while it is written.
        unwritten.record(&[receipt(4, 3)]);
        assert_eq!(unwritten.get(&Hash([3; 32])), Some(receipt(3, 1)));
        assert_eq!(unwritten.get(&Hash([4; 32])), Some(receipt(4, 3)));
        unwritten.checkpoint_written();
        assert_eq!(unwritten.get(&Hash([3; 32])), None);
        assert_eq!(unwritten.get(&Hash([4; 32])), Some(receipt(4, 3)));
    }
}
