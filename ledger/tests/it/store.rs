//! The RocksDB store: reopening, lookups, historic proofs and pruning.

use cairn_ledger::{
    execute::StateView,
    store::{verify_account_proof, StoreConfig, TREE_CHECKPOINT_INTERVAL},
    testing::{
        commit_next_block, open_funded_store, test_address, test_key, transfer, TEST_CHAIN_ID,
    },
    LedgerError,
};

fn config(retained_versions: u64) -> StoreConfig {
    StoreConfig {
        retained_versions,
        ..StoreConfig::default()
    }
}

#[test]
fn reopening_resumes_at_the_last_committed_block() {
    let dir = tempfile::tempdir().unwrap();
    let (hash, root) = {
        let store = open_funded_store(dir.path(), config(100), 4, 1_000).unwrap();
        for nonce in 0..3 {
            let tx = transfer(&test_key(0), TEST_CHAIN_ID, nonce, test_address(1), 5, 1);
            commit_next_block(&store, test_address(2), vec![tx]).unwrap();
        }
        (
            store.meta().unwrap().latest_block_hash,
            store.state_root(3).unwrap(),
        )
    };
    let store = open_funded_store(dir.path(), config(100), 4, 1_000).unwrap();
    let meta = store.meta().unwrap();
    assert_eq!(meta.latest_height, 3);
    assert_eq!(meta.latest_block_hash, hash);
    assert_eq!(store.state_root(3).unwrap(), root);
    let block = store.block(2).unwrap().unwrap();
    assert_eq!(store.block_by_hash(&block.hash()).unwrap().unwrap(), block);
    assert_eq!(store.certificate(2).unwrap().unwrap(), b"test-certificate");
    let tx_hash = block.transactions[0].hash();
    let receipt = store.receipt(&tx_hash).unwrap().unwrap();
    assert_eq!((receipt.height, receipt.index, receipt.nonce), (2, 0, 1));

    // The chain continues where it stopped.
    let tx = transfer(&test_key(0), TEST_CHAIN_ID, 3, test_address(1), 5, 1);
    let next = commit_next_block(&store, test_address(2), vec![tx]).unwrap();
    assert_eq!(next.header.prev_hash, hash);
}

/// Flushes and compactions write table files with direct I/O where the filesystem takes it;
/// what they wrote must read back, and the probe that decides must leave nothing behind.
#[test]
fn flushed_tables_read_back_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let root = {
        let store = open_funded_store(dir.path(), config(100), 4, 1_000).unwrap();
        for nonce in 0..3 {
            let tx = transfer(&test_key(0), TEST_CHAIN_ID, nonce, test_address(1), 5, 1);
            commit_next_block(&store, test_address(2), vec![tx]).unwrap();
            store.flush().unwrap();
        }
        store.state_root(3).unwrap()
    };
    let store = open_funded_store(dir.path(), config(100), 4, 1_000).unwrap();
    assert_eq!(store.state_root(3).unwrap(), root);
    assert_eq!(store.tree_accounts(3).unwrap().len(), 4);
    let tx = transfer(&test_key(0), TEST_CHAIN_ID, 3, test_address(1), 5, 1);
    commit_next_block(&store, test_address(2), vec![tx]).unwrap();
    assert!(!dir.path().join("DIRECT_IO_PROBE").exists());
}

#[test]
fn historic_proofs_show_each_height_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_funded_store(dir.path(), config(100), 4, 1_000).unwrap();
    let newcomer = test_address(77);
    for nonce in 0..5 {
        let tx = transfer(&test_key(0), TEST_CHAIN_ID, nonce, newcomer, 10, 0);
        commit_next_block(&store, test_address(2), vec![tx]).unwrap();
    }
    for height in 0..=5 {
        let answer = store.account_proof(&newcomer, height).unwrap();
        let verified = verify_account_proof(&answer.state_root, &newcomer, &answer.proof).unwrap();
        assert_eq!(verified, answer.account);
        let expected = (height > 0).then_some(height * 10);
        assert_eq!(
            answer.account.map(|account| account.balance),
            expected,
            "height {height}"
        );
        // The proof holds against its own height's root only.
        if height > 0 {
            let other_root = store.state_root(height - 1).unwrap();
            assert!(verify_account_proof(&other_root, &newcomer, &answer.proof).is_err());
        }
    }
    // Heights between checkpoints are replayed; going back down starts the replay again.
    for height in [3, 1, 4, 2] {
        let answer = store.account_proof(&newcomer, height).unwrap();
        assert_eq!(
            answer.account.map(|account| account.balance),
            Some(height * 10)
        );
    }
    assert!(matches!(
        store.account_proof(&newcomer, 6),
        Err(LedgerError::HeightNotCommitted { .. })
    ));
}

#[test]
fn old_versions_are_pruned_beyond_the_retention_window() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_funded_store(dir.path(), config(3), 300, 1_000).unwrap();
    let mut page_counts = Vec::new();
    // The oldest version kept is the newest checkpoint at or below the window's start: at
    // height 36 with a window of 3, that is 32.
    let interval = cairn_ledger::store::TREE_CHECKPOINT_INTERVAL;
    let latest = 2 * interval + 4;
    for nonce in 0..latest {
        let txs = (0..40)
            .map(|sender| {
                transfer(
                    &test_key(sender),
                    TEST_CHAIN_ID,
                    nonce,
                    test_address(sender + 100),
                    1,
                    1,
                )
            })
            .collect();
        commit_next_block(&store, test_address(299), txs).unwrap();
        page_counts.push(store.tree_page_count().unwrap());
    }
    let meta = store.meta().unwrap();
    assert_eq!(meta.oldest_version, 2 * interval);
    assert!(matches!(
        store.account_proof(&test_address(1), 2 * interval - 1),
        Err(LedgerError::HeightPruned { .. })
    ));
    for height in 2 * interval..=latest {
        // Every kept version still reads whole.
        assert_eq!(store.tree_accounts(height).unwrap().len(), 300);
        let answer = store.account_proof(&test_address(100), height).unwrap();
        assert_eq!(
            answer.account.map(|account| account.balance),
            Some(1_000 + height)
        );
    }
    // The page count stops growing once pruning keeps pace.
    let last = page_counts.len() - 1;
    assert!(
        page_counts[last] <= page_counts[interval as usize] + page_counts[interval as usize] / 4,
        "{page_counts:?}"
    );
}

#[test]
fn the_caches_never_change_an_answer() {
    // One store caches everything, the other next to nothing, so it decodes every page it reads.
    let cached_dir = tempfile::tempdir().unwrap();
    let bare_dir = tempfile::tempdir().unwrap();
    let bare_config = StoreConfig {
        page_cache_pages: 1,
        account_cache_entries: 1,
        ..config(100)
    };
    let cached = open_funded_store(cached_dir.path(), config(100), 64, 1_000).unwrap();
    let bare = open_funded_store(bare_dir.path(), bare_config.clone(), 64, 1_000).unwrap();
    // Past a checkpoint, so that the accounts read back come from the table, from the accounts
    // held since the checkpoint, and from those rebuilt into memory on reopening.
    let blocks = TREE_CHECKPOINT_INTERVAL + 6;
    for nonce in 0..blocks {
        let txs: Vec<_> = (0..24)
            .map(|sender| {
                let to = test_address((sender * 7 + nonce * 5) % 90);
                transfer(&test_key(sender), TEST_CHAIN_ID, nonce, to, 3, 1)
            })
            .collect();
        let a = commit_next_block(&cached, test_address(63), txs.clone()).unwrap();
        let b = commit_next_block(&bare, test_address(63), txs).unwrap();
        assert_eq!(a.hash(), b.hash());
    }
    drop(bare);
    let bare = open_funded_store(bare_dir.path(), bare_config, 64, 1_000).unwrap();
    for index in 0..90 {
        let address = test_address(index);
        assert_eq!(
            cached.account(&address).unwrap(),
            bare.account(&address).unwrap()
        );
        for height in [0, 2, 4, TREE_CHECKPOINT_INTERVAL, blocks] {
            assert_eq!(
                cached.account_proof(&address, height).unwrap(),
                bare.account_proof(&address, height).unwrap()
            );
        }
    }
    // Reading old heights filled the caches with old pages where they had room; the next block
    // still executes against the latest state.
    let txs: Vec<_> = (0..24)
        .map(|sender| {
            transfer(
                &test_key(sender),
                TEST_CHAIN_ID,
                blocks,
                test_address(sender),
                1,
                1,
            )
        })
        .collect();
    let a = commit_next_block(&cached, test_address(63), txs.clone()).unwrap();
    let b = commit_next_block(&bare, test_address(63), txs).unwrap();
    assert_eq!(a.hash(), b.hash());
}

/// Receipts reach the transaction index only at checkpoints; until then they are held in memory,
/// and a reopened store holds again those of the blocks after its last checkpoint. Every
/// receipt reads the same wherever it is.
#[test]
fn every_receipt_reads_back_across_checkpoints_and_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let blocks = TREE_CHECKPOINT_INTERVAL + 5;
    let mut expected = Vec::new();
    {
        let store = open_funded_store(dir.path(), config(100), 3, 1_000).unwrap();
        for nonce in 0..blocks {
            let txs: Vec<_> = (0..3)
                .map(|sender| {
                    transfer(
                        &test_key(sender),
                        TEST_CHAIN_ID,
                        nonce,
                        test_address(9),
                        1,
                        1,
                    )
                })
                .collect();
            let block = commit_next_block(&store, test_address(2), txs).unwrap();
            for (index, signed) in block.transactions.iter().enumerate() {
                let receipt = store.receipt(&signed.hash()).unwrap().unwrap();
                assert_eq!((receipt.height, receipt.index as usize), (nonce + 1, index));
                expected.push(receipt);
            }
        }
        for receipt in &expected {
            assert_eq!(
                store.receipt(&receipt.tx_hash).unwrap().as_ref(),
                Some(receipt)
            );
        }
    }
    let store = open_funded_store(dir.path(), config(100), 3, 1_000).unwrap();
    for receipt in &expected {
        assert_eq!(
            store.receipt(&receipt.tx_hash).unwrap().as_ref(),
            Some(receipt)
        );
    }
    let unknown = transfer(&test_key(0), TEST_CHAIN_ID, blocks, test_address(9), 1, 1);
    assert_eq!(store.receipt(&unknown.hash()).unwrap(), None);
}

#[test]
fn readers_never_see_an_account_go_back_in_time() {
    // Readers race the commits on a cache too small to keep anything for long. The cache takes a
    // block's accounts before RocksDB has them and may evict one at once: a reader that then
    // misses must not find the older value in the database, and a value read from the database
    // just before a commit must never be cached after it. Blocks of a few hundred transfers keep
    // each commit's write long enough for the readers to run into it.
    const SENDERS: u64 = 300;
    let dir = tempfile::tempdir().unwrap();
    let small = StoreConfig {
        account_cache_entries: 2,
        ..config(100)
    };
    let store = open_funded_store(dir.path(), small, SENDERS + 8, 1_000_000).unwrap();
    let watched = test_address(0);
    let done = std::sync::atomic::AtomicBool::new(false);
    // Stops the readers however the writer ends, a failed assertion included.
    struct StopReaders<'a>(&'a std::sync::atomic::AtomicBool);
    impl Drop for StopReaders<'_> {
        fn drop(&mut self) {
            self.0.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
    std::thread::scope(|scope| {
        for reader in 0..2u64 {
            let (store, done) = (&store, &done);
            scope.spawn(move || {
                let others: Vec<_> = (0..4)
                    .map(|i| test_address(SENDERS + reader * 4 + i))
                    .collect();
                let mut seen = 0;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    // Other addresses push the watched one out of the two-entry cache.
                    store.accounts(&others).unwrap();
                    let nonce = store.account(&watched).unwrap().unwrap().nonce;
                    assert!(nonce >= seen, "nonce went from {seen} back to {nonce}");
                    seen = nonce;
                }
            });
        }
        let _stop = StopReaders(&done);
        for nonce in 0..100 {
            let txs = (0..SENDERS)
                .map(|sender| {
                    let to = test_address((sender + 1) % SENDERS);
                    transfer(&test_key(sender), TEST_CHAIN_ID, nonce, to, 1, 1)
                })
                .collect();
            commit_next_block(&store, test_address(SENDERS + 9), txs).unwrap();
            assert_eq!(store.account(&watched).unwrap().unwrap().nonce, nonce + 1);
        }
    });
}

#[test]
fn genesis_is_committed_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_funded_store(dir.path(), config(10), 2, 5).unwrap();
    assert!(matches!(
        store.commit_genesis(TEST_CHAIN_ID, cairn_ledger::Hash::ZERO, &[]),
        Err(LedgerError::GenesisAlreadyCommitted)
    ));
}
