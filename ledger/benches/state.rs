//! Ledger benchmarks at one million accounts:
//! - `ledger::apply_commit/...`: execute and commit a block of 10,000 transfers, signatures batch
//!   verified (`signatures=batch`) or already checked by the mempool (`signatures=skip`, state and
//!   commit only, RocksDB included);
//! - `tree::apply/...`: the same block's account updates in our tree and in `jmt` 0.12, both
//!   with their nodes in memory and decoded, so the ratio is measured in one run;
//! - `tree::prove` and `tree::verify`: proofs per second.
//!
//! The database size per million accounts is printed once, after the genesis commit.
//!
//! `RAYON_NUM_THREADS=1 taskset -c 0 cargo bench -p cairn-ledger` measures one core, RocksDB's
//! background threads included. `CAIRN_BENCH_ACCOUNTS` changes the account count (default
//! 1,000,000).

// A benchmark is a test harness: a failed setup should stop it loudly.
#![allow(clippy::unwrap_used)]

// The node's allocator: the tree allocates and frees many small nodes per block.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::{
    path::Path,
    time::{Duration, Instant},
};

use cairn_ledger::{
    account::Account,
    encoding,
    execute::SignaturePolicy,
    hash::Hash,
    store::{verify_account_proof, LedgerStore, StoreConfig},
    testing::{test_key, transfer, TEST_CHAIN_ID},
    tree::{ChildRef, MemoryPages, SparseMerkleTree},
    Address, SecretKey, SignedTransaction,
};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use jmt::{mock::MockTreeStore, KeyHash, Sha256Jmt};

const TRANSFERS: usize = 10_000;

fn account_count() -> u64 {
    std::env::var("CAIRN_BENCH_ACCOUNTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// Address of the `index`-th account: the first senders have keys, the rest only addresses.
fn filler_address(index: u64) -> Address {
    let digest = Hash::digest_parts(&[b"bench-account", &index.to_le_bytes()]);
    let mut bytes = [0u8; 20];
    bytes.copy_from_slice(&digest.0[..20]);
    Address(bytes)
}

struct Chain {
    store: LedgerStore,
    senders: Vec<SecretKey>,
    accounts: u64,
    block_index: u64,
}

impl Chain {
    fn new(path: &Path, accounts: u64) -> Chain {
        let store = LedgerStore::open(path, StoreConfig::default()).unwrap();
        let senders: Vec<SecretKey> = (0..TRANSFERS as u64).map(test_key).collect();
        let mut genesis: Vec<(Address, Account)> = senders
            .iter()
            .map(|key| {
                (
                    Address::from_public_key(&key.public_key()),
                    Account {
                        balance: u64::MAX / accounts / 2,
                        nonce: 0,
                    },
                )
            })
            .collect();
        genesis.extend((genesis.len() as u64..accounts).map(|i| {
            (
                filler_address(i),
                Account {
                    balance: 1_000,
                    nonce: 0,
                },
            )
        }));
        let started = Instant::now();
        store
            .commit_genesis(TEST_CHAIN_ID, Hash::digest(b"bench"), &genesis)
            .unwrap();
        eprintln!(
            "genesis of {accounts} accounts committed in {:.1?}",
            started.elapsed()
        );
        Chain {
            store,
            senders,
            accounts,
            block_index: 0,
        }
    }

    /// The next block's transfers: every sender pays a pseudo-random existing account.
    fn next_transactions(&mut self) -> Vec<SignedTransaction> {
        self.block_index += 1;
        let nonce = self.block_index - 1;
        self.senders
            .iter()
            .enumerate()
            .map(|(i, key)| {
                let pick = Hash::digest_parts(&[&self.block_index.to_le_bytes(), &i.to_le_bytes()]);
                let to = filler_address(
                    u64::from_le_bytes(pick.0[..8].try_into().unwrap()) % self.accounts,
                );
                transfer(key, TEST_CHAIN_ID, nonce, to, 1, 1)
            })
            .collect()
    }

    fn apply_and_commit(
        &mut self,
        transactions: Vec<SignedTransaction>,
        policy: SignaturePolicy<'_>,
    ) -> usize {
        let (block, mut execution) = self
            .store
            .propose_block(
                self.block_index,
                filler_address(self.accounts - 1),
                Hash::ZERO,
                transactions,
                policy,
            )
            .unwrap();
        self.store
            .commit_block(&block, &mut execution, b"")
            .unwrap();
        execution.changed_accounts.len()
    }
}

fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .unwrap()
        .filter_map(Result::ok)
        .map(|entry| {
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                dir_size(&entry.path())
            } else {
                meta.len()
            }
        })
        .sum()
}

fn ledger_benches(c: &mut Criterion) {
    let accounts = account_count();
    let dir = tempfile::tempdir().unwrap();
    let mut chain = Chain::new(dir.path(), accounts);
    let size = dir_size(dir.path());
    eprintln!(
        "database after genesis: {:.1} MiB for {accounts} accounts ({:.1} MiB per million)",
        size as f64 / 1048576.0,
        size as f64 / 1048576.0 * 1e6 / accounts as f64
    );

    let mut group = c.benchmark_group("ledger::apply_commit");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .warm_up_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(TRANSFERS as u64));
    let label = |signatures: &str| {
        format!("transfers={TRANSFERS}/accounts={accounts}/signatures={signatures}")
    };
    group.bench_function(label("batch"), |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let transactions = chain.next_transactions();
                let started = Instant::now();
                chain.apply_and_commit(transactions, SignaturePolicy::VerifyAll);
                total += started.elapsed();
            }
            total
        })
    });
    let verified = |_: &Hash| true;
    let updates = {
        let transactions = chain.next_transactions();
        chain.apply_and_commit(transactions, SignaturePolicy::SkipVerified(&verified))
    };
    eprintln!("one block of {TRANSFERS} transfers changes {updates} accounts");
    group.throughput(Throughput::Elements(updates as u64));
    group.bench_function(format!("{}/unit=account-updates", label("skip")), |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let transactions = chain.next_transactions();
                let started = Instant::now();
                chain.apply_and_commit(transactions, SignaturePolicy::SkipVerified(&verified));
                total += started.elapsed();
            }
            total
        })
    });
    group.finish();

    let mut group = c.benchmark_group("tree");
    let height = chain.store.latest_height().unwrap();
    let root = chain.store.tree_root(height).unwrap();
    let state_root = root.hash();
    let probes: Vec<Address> = (0..4096)
        .map(|i| filler_address(i * 7919 % accounts))
        .collect();
    let mut next = 0usize;
    group.throughput(Throughput::Elements(1));
    group.bench_function(format!("prove/accounts={accounts}/store=rocksdb"), |b| {
        b.iter(|| {
            next = (next + 1) % probes.len();
            chain.store.account_proof(&probes[next], height).unwrap()
        })
    });
    let proofs: Vec<_> = probes
        .iter()
        .map(|address| chain.store.account_proof(address, height).unwrap())
        .collect();
    group.bench_function(format!("verify/accounts={accounts}"), |b| {
        b.iter(|| {
            next = (next + 1) % proofs.len();
            verify_account_proof(&state_root, &proofs[next].address, &proofs[next].proof).unwrap()
        })
    });
    group.finish();
    drop(chain);
    drop(dir);
    tree_comparison(c, accounts);
}

/// Our tree against jmt 0.12, both in memory, on the same keys and values.
fn tree_comparison(c: &mut Criterion, accounts: u64) {
    let value = encoding::encode(&Account {
        balance: 1,
        nonce: 1,
    });
    let keys: Vec<Hash> = (0..accounts)
        .map(|i| filler_address(i).state_key())
        .collect();
    let updates = 2 * TRANSFERS;
    let batch = |round: u64| -> Vec<Hash> {
        (0..updates as u64)
            .map(|i| {
                let pick = Hash::digest_parts(&[&round.to_le_bytes(), &i.to_le_bytes()]);
                keys[(u64::from_le_bytes(pick.0[..8].try_into().unwrap()) % accounts) as usize]
            })
            .collect()
    };

    let mut pages = MemoryPages::decoded();
    let genesis = SparseMerkleTree::new(&pages)
        .apply(
            ChildRef::Empty,
            0,
            keys.iter().map(|key| (*key, Some(value.clone()))).collect(),
        )
        .unwrap();
    pages.commit(&genesis);
    let ours_root = genesis.root.clone();

    let jmt_store = MockTreeStore::new(true);
    let started = Instant::now();
    let (_, jmt_genesis) = Sha256Jmt::new(&jmt_store)
        .put_value_set(
            keys.iter().map(|key| (KeyHash(key.0), Some(value.clone()))),
            0,
        )
        .unwrap();
    jmt_store.write_tree_update_batch(jmt_genesis).unwrap();
    eprintln!("jmt genesis of {accounts} keys: {:.1?}", started.elapsed());

    let mut group = c.benchmark_group("tree::apply");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(updates as u64));
    let mut round = 0u64;
    group.bench_function(
        format!("cairn/updates={updates}/accounts={accounts}/store=memory"),
        |b| {
            b.iter_batched(
                || {
                    round += 1;
                    batch(round)
                        .into_iter()
                        .map(|key| (key, Some(round.to_le_bytes().to_vec())))
                        .collect::<Vec<_>>()
                },
                |changes| {
                    SparseMerkleTree::new(&pages)
                        .apply(ours_root.clone(), 1, changes)
                        .unwrap()
                },
                BatchSize::PerIteration,
            )
        },
    );
    group.bench_function(
        format!("jmt/updates={updates}/accounts={accounts}/store=memory"),
        |b| {
            b.iter_batched(
                || {
                    round += 1;
                    batch(round)
                        .into_iter()
                        .map(|key| (KeyHash(key.0), Some(round.to_le_bytes().to_vec())))
                        .collect::<Vec<_>>()
                },
                |changes| {
                    Sha256Jmt::new(&jmt_store)
                        .put_value_set(changes, 1)
                        .unwrap()
                },
                BatchSize::PerIteration,
            )
        },
    );
    group.finish();
}

criterion_group!(benches, ledger_benches);
criterion_main!(benches);
