//! Crash consistency: a child process commits blocks until it is killed at a random moment; the
//! store it leaves is exactly at some committed height, and re-executing the stored blocks on a
//! fresh store gives the same state roots.

use std::{
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use cairn_ledger::{
    execute::SignaturePolicy,
    store::StoreConfig,
    testing::{
        commit_next_block, open_funded_store, test_address, test_key, transfer, TEST_CHAIN_ID,
    },
    LedgerStore,
};
use rand::{Rng, SeedableRng};

const CHILD_DIR_VAR: &str = "CAIRN_CRASH_CHILD_DIR";
const ACCOUNTS: u64 = 200;
const CHILD_MAX_RUNTIME: Duration = Duration::from_secs(30);

fn open(path: &Path) -> LedgerStore {
    // A small retention window, so pruning is part of what crashes midway.
    open_funded_store(
        path,
        StoreConfig {
            retained_versions: 5,
            ..StoreConfig::default()
        },
        ACCOUNTS,
        1_000_000,
    )
    .unwrap()
}

/// The next block is a function of the state alone, so a restarted writer continues the same chain.
fn next_transactions(store: &LedgerStore) -> Vec<cairn_ledger::SignedTransaction> {
    let height = store.latest_height().unwrap();
    (0..50)
        .map(|i| {
            let sender = (height * 7 + i) % ACCOUNTS;
            let nonce = store
                .account(&test_address(sender))
                .unwrap()
                .unwrap_or_default()
                .nonce;
            transfer(
                &test_key(sender),
                TEST_CHAIN_ID,
                nonce,
                test_address((sender + height + 1) % (ACCOUNTS + 20)),
                3,
                1,
            )
        })
        .collect()
}

/// Runs only as the child of `a_killed_writer_leaves_a_consistent_store`.
#[test]
fn crash_child_writer() {
    let Ok(dir) = std::env::var(CHILD_DIR_VAR) else {
        return;
    };
    let store = open(Path::new(&dir));
    let started = Instant::now();
    while started.elapsed() < CHILD_MAX_RUNTIME {
        let txs = next_transactions(&store);
        commit_next_block(&store, test_address(ACCOUNTS + 1), txs).unwrap();
    }
}

#[test]
fn a_killed_writer_leaves_a_consistent_store() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut last_height = 0;
    for _ in 0..6 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash::crash_child_writer",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR_VAR, dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.gen_range(300..1500)));
        child.kill().unwrap();
        child.wait().unwrap();

        let store = open(dir.path());
        let meta = store.meta().unwrap();
        assert!(
            meta.latest_height >= last_height,
            "the store went back in time"
        );
        last_height = meta.latest_height;
        if meta.latest_height > 0 {
            assert_eq!(
                store.block(meta.latest_height).unwrap().unwrap().hash(),
                meta.latest_block_hash
            );
        }
        assert!(store.block(meta.latest_height + 1).unwrap().is_none());
        // The index holds the latest block's transactions, even if the crash took them from
        // RocksDB's memory: opening the store writes them again from the block.
        if meta.latest_height > 0 {
            let latest = store.block(meta.latest_height).unwrap().unwrap();
            for (index, signed) in latest.transactions.iter().enumerate() {
                let receipt = store.receipt(&signed.hash()).unwrap().unwrap();
                assert_eq!(
                    (receipt.height, receipt.index as usize),
                    (meta.latest_height, index)
                );
            }
        }
        // Not only unseen: no block above the latest is on disk at all.
        let newest_block = store.newest_stored_block_height().unwrap();
        assert_eq!(
            newest_block,
            (meta.latest_height > 0).then_some(meta.latest_height)
        );
        // Pages a commit wrote ahead of a block batch that never landed are gone.
        assert!(store.newest_page_version().unwrap() <= Some(meta.latest_height));
        // The tree at the latest height is whole and agrees with the flat table.
        let tree = store.tree_accounts(meta.latest_height).unwrap();
        for index in 0..ACCOUNTS + 20 {
            let address = test_address(index);
            let flat = store.account(&address).unwrap();
            assert_eq!(
                store
                    .account_proof(&address, meta.latest_height)
                    .unwrap()
                    .account,
                flat
            );
        }
        let supply: u64 = tree.iter().map(|(_, account)| account.balance).sum();
        assert_eq!(supply, ACCOUNTS * 1_000_000);
    }
    assert!(last_height > 0, "the writer never committed a block");

    // Re-execute every stored block on a fresh store: same blocks, same state roots.
    let crashed = open(dir.path());
    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh = open(fresh_dir.path());
    for height in 1..=last_height {
        let block = crashed.block(height).unwrap().unwrap();
        let mut execution = fresh
            .execute_block(&block, SignaturePolicy::VerifyAll)
            .unwrap();
        fresh
            .commit_block(&block, &mut execution, b"test-certificate")
            .unwrap();
    }
    assert_eq!(
        fresh.state_root(last_height).unwrap(),
        crashed.state_root(last_height).unwrap()
    );
    let _ = commit_next_block(&fresh, test_address(1), Vec::new());
}
