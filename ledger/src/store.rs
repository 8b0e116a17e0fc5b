//! The ledger's store on RocksDB: blocks, transactions, accounts, the state tree and metadata.
//!
//! # Layout (one column family each)
//! | family | key | value |
//! |---|---|---|
//! | `blocks` | height (u64 BE) | the block, canonical encoding |
//! | `block_hashes` | block hash | height (u64 BE) |
//! | `tx_index` | transaction hash | its [`Receipt`] (height, position, sender, nonce, fee) |
//! | `certificates` | height (u64 BE) | the block's commit certificate, as consensus encodes it |
//! | `accounts` | address | the latest [`Account`]: the flat table reads use, never the tree |
//! | `tree_pages` | [`PageKey`] | a page of the state tree |
//! | `tree_stale` | version (u64 BE) | the [`PageKey`]s no longer live from that version on, each behind a u8 length |
//! | `tree_roots` | version (u64 BE) | the root [`ChildRef`] of that version |
//! | `meta` | `"chain"` | [`ChainMeta`]: chain id, genesis hash, latest height and block hash, oldest kept version |
//!
//! # Atomicity
//! Committing a block (or the genesis state) ends with one `WriteBatch`, written with `sync`: the
//! block, its receipts, accounts, stale index, tree root and metadata, and the pruning of old tree
//! versions. After a crash at any moment the store is at the last committed block, never between
//! two. A block's new tree pages go just before that batch, in batches of their own: their keys
//! carry the new version, which no root reaches until the block's batch lands, so pages left by a
//! crash (or a failed commit) in between are unreachable, and opening the store removes them.
//!
//! # Writes
//! Flushes and compactions use direct I/O where the filesystem takes it: they rewrite every
//! block's pages, and the page cache only adds a copy and its own allocation to that.
//!
//! # Caches
//! Decoded tree pages and the latest accounts are kept in memory ([`StoreConfig`]); commits and
//! genesis put what they write into them, so executing the next block reads from disk only what
//! was evicted. The caches only ever hold what the database holds, or is about to hold once the
//! commit in progress returns.

use std::{
    path::Path,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, PoisonError, RwLock,
    },
    thread::ScopedJoinHandle,
};

use borsh::{BorshDeserialize, BorshSerialize};
use quick_cache::sync::Cache as MemoryCache;
use rayon::prelude::*;
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, Direction, IteratorMode,
    Options, WriteBatch, WriteOptions, DB,
};

use crate::{
    account::Account,
    address::Address,
    block::{Block, BlockHeader, Receipt, MAX_BLOCK_EVIDENCE, MAX_EVIDENCE_BYTES},
    encoding,
    error::LedgerError,
    execute::{BlockExecution, Executor, SignaturePolicy, StateView},
    hash::Hash,
    page_cache::{PageCache, PagePosition},
    tree::{
        load_page, node::Page, ChildRef, NewPage, PageKey, PageSource, Proof, SparseMerkleTree,
    },
    tx::SignedTransaction,
};

/// Bytes a write batch spends on a record besides its value: tag, family, lengths, and a key
/// of up to 50 bytes (a page key is at most 41).
const BATCH_RECORD_OVERHEAD: usize = 64;
/// A bound on an encoded account or receipt, for reserving a batch's room.
const MAX_SMALL_RECORD: usize = 128;

const CF_BLOCKS: &str = "blocks";
const CF_BLOCK_HASHES: &str = "block_hashes";
const CF_TX_INDEX: &str = "tx_index";
const CF_CERTIFICATES: &str = "certificates";
const CF_ACCOUNTS: &str = "accounts";
const CF_TREE_PAGES: &str = "tree_pages";
const CF_TREE_STALE: &str = "tree_stale";
const CF_TREE_ROOTS: &str = "tree_roots";
const CF_META: &str = "meta";
const CF_EVIDENCE: &str = "evidence";
const ALL_CFS: [&str; 10] = [
    CF_BLOCKS,
    CF_BLOCK_HASHES,
    CF_TX_INDEX,
    CF_CERTIFICATES,
    CF_ACCOUNTS,
    CF_TREE_PAGES,
    CF_TREE_STALE,
    CF_TREE_ROOTS,
    CF_META,
    CF_EVIDENCE,
];
const META_CHAIN: &[u8] = b"chain";

/// Bound on RocksDB's write-ahead log files taken together.
const MAX_TOTAL_WAL_BYTES: u64 = 256 << 20;

/// Accounts read in one multi-get; chunks are read in parallel.
const ACCOUNT_READ_CHUNK: usize = 4096;

/// How the store keeps its data.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Tree versions (heights) kept readable for proofs; older ones are pruned. At least 1.
    pub retained_versions: u64,
    /// Tree pages kept decoded in memory. A page holds up to 16 leaves; a million accounts make
    /// about 350,000 pages, of a few hundred bytes to a few kilobytes each in memory. The top
    /// levels of the tree that fit this budget whole (at most 1,118,481 positions, down to depth
    /// 20) keep their pages for good, each in a slot of its own; deeper pages share the rest, the
    /// least used going first.
    pub page_cache_pages: usize,
    /// Accounts (and known absences) kept in memory in front of the flat table.
    pub account_cache_entries: usize,
    /// RocksDB's block cache, shared by all column families: it keeps what the caches above miss.
    pub block_cache_bytes: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            retained_versions: 100_000,
            page_cache_pages: 1 << 21,
            account_cache_entries: 1 << 21,
            block_cache_bytes: 256 << 20,
        }
    }
}

/// What the store knows of its chain, kept in `meta` and in memory.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ChainMeta {
    pub chain_id: String,
    pub genesis_hash: Hash,
    /// 0 while only the genesis state is committed.
    pub latest_height: u64,
    /// The latest block's hash; the genesis hash at height 0.
    pub latest_block_hash: Hash,
    /// Oldest tree version not yet pruned.
    pub oldest_version: u64,
}

/// An account's state at a height, with the proof that ties it to that height's state root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountProof {
    pub address: Address,
    pub height: u64,
    pub state_root: Hash,
    pub account: Option<Account>,
    pub proof: Proof,
}

/// Checks `proof` for `address` against `state_root` with no database: the account it shows, or
/// `None` when it shows the address has no account.
pub fn verify_account_proof(
    state_root: &Hash,
    address: &Address,
    proof: &Proof,
) -> Result<Option<Account>, LedgerError> {
    proof
        .verify(state_root, &address.state_key())?
        .map(|bytes| encoding::decode::<Account>("account", bytes))
        .transpose()
}

/// A block's changed accounts with their new state, sorted by address.
type ChangedAccounts = Vec<(Address, Account)>;

/// Blocks, transactions and state on RocksDB.
pub struct LedgerStore {
    db: DB,
    config: StoreConfig,
    /// Taken by each commit (and genesis) for its whole length, so commits never interleave;
    /// readers take `meta` only for a moment, and see a height once it is on disk.
    commit_lock: Mutex<()>,
    meta: RwLock<Option<ChainMeta>>,
    /// Decoded pages by position in the tree: the newest page seen at a position, which is the
    /// latest tree's unless a proof at an older height read it. A commit's page replaces its
    /// predecessor in one step, so replaced pages need no removal; every hit is checked against
    /// the hash its parent expects.
    page_cache: PageCache,
    /// The latest account of each address, `None` for none. Kept exact by `account_epoch` and
    /// `committing`.
    account_cache: MemoryCache<Address, Option<Account>>,
    /// The accounts of the block being committed, sorted by address, from the start of its commit
    /// until RocksDB holds them. Readers take the block's accounts from here, ahead of the cache
    /// (which takes the new values one by one, and may evict one at once) and of the database
    /// (which still holds the older ones). Held shared by a reader while it caches what it read
    /// from the database, and exclusively to start a commit, so that no read from before a commit
    /// is cached after the commit began.
    committing: RwLock<Option<Arc<ChangedAccounts>>>,
    /// Bumped when a commit starts and when it ends: odd while one is in flight. A reader caches
    /// what it read from the database only if the epoch is even and unchanged since it began.
    account_epoch: AtomicU64,
}

impl std::fmt::Debug for LedgerStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedgerStore")
            .field("path", &self.db.path())
            .field("config", &self.config)
            .field("meta", &self.meta())
            .finish_non_exhaustive()
    }
}

impl LedgerStore {
    /// Opens (or creates) the store in `path`, resuming at its last committed block.
    pub fn open(path: &Path, config: StoreConfig) -> Result<LedgerStore, LedgerError> {
        if config.retained_versions == 0 {
            return Err(LedgerError::Corrupt {
                reason: "retained_versions must be at least 1".into(),
            });
        }
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        std::fs::create_dir_all(path).map_err(|source| LedgerError::Directory {
            path: path.to_path_buf(),
            source,
        })?;
        // Flushes and compactions write every block's pages again, tens of megabytes a second:
        // through the page cache, that copy and the kernel's allocation of new cached pages
        // cost about a tenth of a block's CPU, for data no one reads back soon. Reads keep the
        // page cache.
        options.set_use_direct_io_for_flush_and_compaction(supports_direct_io(path));
        // Families written rarely (blocks' metadata, roots) would otherwise keep every log file
        // alive until their own memtables fill: gigabytes of log for a busy chain, all replayed
        // after a crash. Past this bound RocksDB flushes them, so old logs can go.
        options.set_max_total_wal_size(MAX_TOTAL_WAL_BYTES);
        // Flushes and compactions can always run a little later; a commit, and the execution of
        // the next block, cannot. At normal priority they take a core from the commit path at
        // random; at the lowest they fill the time the commit path leaves idle (its sync, and
        // the side of the commit that ends first). Measured at a million accounts: a few percent
        // less wall time per block, with the same CPU. RocksDB still stops writes, as ever, when
        // flushes fall too far behind, so a starved flush slows commits instead of piling up.
        let mut env = rocksdb::Env::new()?;
        env.lower_thread_pool_cpu_priority();
        env.lower_high_priority_thread_pool_cpu_priority();
        options.set_env(&env);
        let cache = Cache::new_lru_cache(config.block_cache_bytes);
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&cache);
        // Point lookups of keys that may well be absent (an address that never held anything, a
        // transaction hash a wallet asks about) would otherwise search every level for nothing.
        let mut filtered_table = BlockBasedOptions::default();
        filtered_table.set_block_cache(&cache);
        filtered_table.set_bloom_filter(10.0, false);
        let families = ALL_CFS.iter().map(|name| {
            let mut family = Options::default();
            if [CF_ACCOUNTS, CF_TX_INDEX].contains(name) {
                family.set_block_based_table_factory(&filtered_table);
            } else {
                family.set_block_based_table_factory(&table);
            }
            ColumnFamilyDescriptor::new(*name, family)
        });
        let db = DB::open_cf_descriptors(&options, path, families)?;
        let meta = match db.get_cf(cf(&db, CF_META)?, META_CHAIN)? {
            Some(bytes) => Some(encoding::decode::<ChainMeta>("chain metadata", &bytes)?),
            None => None,
        };
        if let Some(meta) = &meta {
            remove_pages_above(&db, meta.latest_height)?;
        }
        Ok(LedgerStore {
            db,
            page_cache: PageCache::new(config.page_cache_pages),
            account_cache: MemoryCache::new(config.account_cache_entries.max(1)),
            committing: RwLock::new(None),
            account_epoch: AtomicU64::new(0),
            commit_lock: Mutex::new(()),
            config,
            meta: RwLock::new(meta),
        })
    }

    /// The chain's metadata, or `None` before genesis is committed.
    pub fn meta(&self) -> Option<ChainMeta> {
        self.meta
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn require_meta(&self) -> Result<ChainMeta, LedgerError> {
        self.meta().ok_or(LedgerError::NoGenesis)
    }

    /// The latest committed height (0 = genesis), or `None` before genesis.
    pub fn latest_height(&self) -> Option<u64> {
        self.meta().map(|meta| meta.latest_height)
    }

    /// Commits the genesis state (version 0): the initial accounts. Returns its state root.
    pub fn commit_genesis(
        &self,
        chain_id: &str,
        genesis_hash: Hash,
        accounts: &[(Address, Account)],
    ) -> Result<Hash, LedgerError> {
        let _commit = self
            .commit_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if self.meta().is_some() {
            return Err(LedgerError::GenesisAlreadyCommitted);
        }
        let mut supply: u64 = 0;
        let mut seen = std::collections::HashSet::new();
        for (address, account) in accounts {
            if !seen.insert(*address) {
                return Err(LedgerError::InvalidGenesis {
                    reason: format!("account {address} is listed twice"),
                });
            }
            supply = supply
                .checked_add(account.balance)
                .ok_or(LedgerError::SupplyOverflow { address: *address })?;
        }
        let changes = accounts
            .iter()
            .map(|(address, account)| (address.state_key(), Some(encoding::encode(account))))
            .collect();
        let tree = SparseMerkleTree::new(self).apply(ChildRef::Empty, 0, changes)?;
        let meta = ChainMeta {
            chain_id: chain_id.into(),
            genesis_hash,
            latest_height: 0,
            latest_block_hash: genesis_hash,
            oldest_version: 0,
        };
        let mut batch = WriteBatch::default();
        for (address, account) in accounts {
            batch.put_cf(self.cf(CF_ACCOUNTS)?, address.0, encoding::encode(account));
        }
        for page in &tree.new_pages {
            batch.put_cf(
                self.cf(CF_TREE_PAGES)?,
                page.key.encode(),
                page.page.bytes(),
            );
        }
        batch.put_cf(
            self.cf(CF_TREE_ROOTS)?,
            0u64.to_be_bytes(),
            encoding::encode(&tree.root),
        );
        batch.put_cf(self.cf(CF_META)?, META_CHAIN, encoding::encode(&meta));
        self.write_synced(batch)?;
        {
            // Whatever a reader read from the database before this point must not be cached.
            let _committing = self
                .committing
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            self.account_epoch.fetch_add(2, Ordering::SeqCst);
            for (address, account) in accounts {
                self.account_cache.insert(*address, Some(*account));
            }
        }
        *self.meta.write().unwrap_or_else(PoisonError::into_inner) = Some(meta);
        let root = tree.root_hash();
        for page in tree.new_pages {
            self.page_cache
                .insert(PagePosition::of(&page.key), (page.key.version, page.page));
        }
        Ok(root)
    }

    /// The root of the state tree at `version`.
    pub fn tree_root(&self, version: u64) -> Result<ChildRef, LedgerError> {
        let meta = self.require_meta()?;
        if version > meta.latest_height {
            return Err(LedgerError::HeightNotCommitted {
                height: version,
                latest: meta.latest_height,
            });
        }
        if version < meta.oldest_version {
            return Err(LedgerError::HeightPruned {
                height: version,
                oldest_kept: meta.oldest_version,
            });
        }
        let bytes = self
            .db
            .get_cf(self.cf(CF_TREE_ROOTS)?, version.to_be_bytes())?
            .ok_or_else(|| LedgerError::Corrupt {
                reason: format!("no tree root for version {version}"),
            })?;
        encoding::decode("tree root", &bytes)
    }

    /// The state root at `height`.
    pub fn state_root(&self, height: u64) -> Result<Hash, LedgerError> {
        Ok(self.tree_root(height)?.hash())
    }

    fn executor<'a>(&'a self, meta: &'a ChainMeta) -> Result<Executor<'a, Self>, LedgerError> {
        Ok(Executor {
            view: self,
            base_root: self.tree_root(meta.latest_height)?,
            chain_id: &meta.chain_id,
        })
    }

    /// Builds the next block from `transactions` as its proposer: executes them and fills in the
    /// header's roots. Any invalid transaction is an error naming it; the caller drops it and retries.
    pub fn propose_block(
        &self,
        time_ms: u64,
        proposer: Address,
        validator_set_hash: Hash,
        transactions: Vec<SignedTransaction>,
        policy: SignaturePolicy<'_>,
    ) -> Result<(Block, BlockExecution), LedgerError> {
        self.propose_block_with_evidence(
            time_ms,
            proposer,
            validator_set_hash,
            transactions,
            Vec::new(),
            policy,
        )
    }

    /// [`LedgerStore::propose_block`], carrying `evidence` as well (checked for size, repeats
    /// and bounds as [`LedgerStore::execute_block`] checks it).
    pub fn propose_block_with_evidence(
        &self,
        time_ms: u64,
        proposer: Address,
        validator_set_hash: Hash,
        transactions: Vec<SignedTransaction>,
        evidence: Vec<Vec<u8>>,
        policy: SignaturePolicy<'_>,
    ) -> Result<(Block, BlockExecution), LedgerError> {
        let meta = self.require_meta()?;
        let height = next_height(&meta)?;
        self.check_evidence(height, &evidence)?;
        let execution = self
            .executor(&meta)?
            .execute(height, &proposer, &transactions, policy)?;
        let header = BlockHeader {
            chain_id: meta.chain_id.clone(),
            height,
            time_ms,
            prev_hash: meta.latest_block_hash,
            // Execution hashed every transaction already.
            tx_root: crate::hash::merkle_root(&execution.tx_hashes),
            evidence_root: Block::compute_evidence_root(&evidence),
            state_root: execution.state_root(),
            validator_set_hash,
            proposer,
        };
        Ok((
            Block {
                header,
                transactions,
                evidence,
            },
            execution,
        ))
    }

    /// Evidence bounds: how many, how large, no repeats within the block or of committed evidence.
    fn check_evidence(&self, height: u64, evidence: &[Vec<u8>]) -> Result<(), LedgerError> {
        let invalid = |reason: String| LedgerError::InvalidBlock { height, reason };
        if evidence.len() > MAX_BLOCK_EVIDENCE {
            return Err(invalid(format!(
                "{} pieces of evidence, at most {MAX_BLOCK_EVIDENCE}",
                evidence.len()
            )));
        }
        let mut seen = std::collections::HashSet::new();
        for (index, bytes) in evidence.iter().enumerate() {
            if bytes.len() > MAX_EVIDENCE_BYTES {
                return Err(invalid(format!(
                    "evidence {index} is {} bytes, at most {MAX_EVIDENCE_BYTES}",
                    bytes.len()
                )));
            }
            let hash = Hash::digest(bytes);
            if !seen.insert(hash) {
                return Err(invalid(format!("evidence {index} appears twice")));
            }
            if let Some(committed) = self.evidence_height(&hash)? {
                return Err(invalid(format!(
                    "evidence {index} was committed already at height {committed}"
                )));
            }
        }
        Ok(())
    }

    /// The height whose block carried the evidence with this hash (SHA-256 of its bytes).
    pub fn evidence_height(&self, hash: &Hash) -> Result<Option<u64>, LedgerError> {
        let height = self
            .db
            .get_cf(self.cf(CF_EVIDENCE)?, hash.0)?
            .map(|bytes| {
                <[u8; 8]>::try_from(&bytes[..])
                    .map(u64::from_be_bytes)
                    .map_err(|_| LedgerError::Corrupt {
                        reason: "bad evidence index record".into(),
                    })
            })
            .transpose()?;
        Ok(height.filter(|height| self.is_committed(*height)))
    }

    /// Checks that `block` is a valid next block and executes it; commits nothing.
    pub fn execute_block(
        &self,
        block: &Block,
        policy: SignaturePolicy<'_>,
    ) -> Result<BlockExecution, LedgerError> {
        let meta = self.require_meta()?;
        let header = &block.header;
        let height = next_height(&meta)?;
        let invalid = |reason: String| LedgerError::InvalidBlock {
            height: header.height,
            reason,
        };
        if header.height != height {
            return Err(LedgerError::UnexpectedHeight {
                height: header.height,
                expected: height,
            });
        }
        if header.chain_id != meta.chain_id {
            return Err(invalid(format!(
                "chain id {:?}, expected {:?}",
                header.chain_id, meta.chain_id
            )));
        }
        if header.prev_hash != meta.latest_block_hash {
            return Err(invalid(format!(
                "previous hash {}, expected {}",
                header.prev_hash, meta.latest_block_hash
            )));
        }
        if Block::compute_evidence_root(&block.evidence) != header.evidence_root {
            return Err(invalid("evidence root does not match the evidence".into()));
        }
        self.check_evidence(height, &block.evidence)?;
        let execution =
            self.executor(&meta)?
                .execute(height, &header.proposer, &block.transactions, policy)?;
        if crate::hash::merkle_root(&execution.tx_hashes) != header.tx_root {
            return Err(invalid(
                "transactions root does not match the transactions".into(),
            ));
        }
        if execution.state_root() != header.state_root {
            return Err(LedgerError::StateRootMismatch {
                height,
                claimed: header.state_root,
                computed: execution.state_root(),
            });
        }
        Ok(execution)
    }

    /// Commits a decided block with its execution and commit certificate: its new tree pages, then
    /// one synced batch that makes the block, and the pages, part of the store.
    pub fn commit_block(
        &self,
        block: &Block,
        execution: &BlockExecution,
        certificate: &[u8],
    ) -> Result<(), LedgerError> {
        let _commit = self
            .commit_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let meta = self.require_meta()?;
        let height = next_height(&meta)?;
        if block.header.height != height || execution.height != height {
            return Err(LedgerError::UnexpectedHeight {
                height: block.header.height,
                expected: height,
            });
        }
        if block.header.prev_hash != meta.latest_block_hash
            || block.header.state_root != execution.state_root()
        {
            return Err(LedgerError::InvalidBlock {
                height,
                reason: "the execution does not belong to this block on this chain".into(),
            });
        }
        // The caches take the block while the batch is built and written. Readers of accounts go on
        // meanwhile: they take the block's accounts from `committing`, and the rest from the cache
        // or the database, where the block changes nothing. A failed commit takes the block's
        // accounts back out. A page cached for a block that then fails to commit is
        // harmless: every hit is checked against the hash its parent expects.
        {
            let mut committing = self
                .committing
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            *committing = Some(Arc::new(execution.changed_accounts.clone()));
            self.account_epoch.fetch_add(1, Ordering::SeqCst);
        }
        // The pages (three quarters of the bytes) are written first, unsynced, one batch per core
        // side by side; nothing reaches them before the block's batch lands. That batch then goes
        // to the log and the memtables on one core while the pages' log syncs, and the caches
        // take the block on the other: RocksDB writes one batch on one thread, so the pages,
        // split, are what keeps two cores busy. Measured at a million accounts, the caches beside
        // the block's batch instead of beside the pages took a commit from about 44 to 41 ms.
        //
        // The syncs wait on threads of their own, not on the pool's, and the block's own sync
        // waits for a few megabytes instead of all seventeen. Readers do not see the block before
        // this commit returns: every read of a height's records checks the height against `meta`,
        // and the block's accounts are read from `committing` until then.
        let written = std::thread::scope(|scope| {
            self.write_pages_ahead(&execution.tree.new_pages)?;
            let pages_synced = scope.spawn(|| self.db.flush_wal(true));
            let (written, ()) = rayon::join(
                || {
                    let (batch, next_meta) =
                        self.commit_batch(block, execution, certificate, &meta, height)?;
                    self.db.write(batch)?;
                    let block_synced = scope.spawn(|| self.db.flush_wal(true));
                    Ok::<_, LedgerError>((next_meta, block_synced))
                },
                || self.cache_block(execution),
            );
            let (next_meta, block_synced) = written?;
            let joined = |sync: ScopedJoinHandle<'_, Result<(), rocksdb::Error>>| {
                sync.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            };
            let pages_synced = joined(pages_synced);
            joined(block_synced)?;
            pages_synced?;
            Ok::<_, LedgerError>(next_meta)
        });
        if written.is_err() {
            for (address, _) in &execution.changed_accounts {
                self.account_cache.remove(address);
            }
        }
        *self
            .committing
            .write()
            .unwrap_or_else(PoisonError::into_inner) = None;
        self.account_epoch.fetch_add(1, Ordering::SeqCst);
        *self.meta.write().unwrap_or_else(PoisonError::into_inner) = Some(written?);
        Ok(())
    }

    /// The write batch that commits `block` at `height` once its pages are written: block,
    /// certificate, receipts, accounts, stale index, root, pruning and metadata. Returns the
    /// metadata that holds once it is written.
    fn commit_batch(
        &self,
        block: &Block,
        execution: &BlockExecution,
        certificate: &[u8],
        meta: &ChainMeta,
        height: u64,
    ) -> Result<(WriteBatch, ChainMeta), LedgerError> {
        let block_hash = block.hash();
        let height_key = height.to_be_bytes();
        let encoded_block = block.encode();
        // A batch that grows by doubling copies itself again and again (it reaches about 5 MB
        // for a block of 10,000 transfers); reserving room for what it will hold avoids most of
        // that. Pruning's deletions, when there are any, may still make it grow once.
        let reserve = encoded_block.len()
            + certificate.len()
            + (execution.receipts.len() + execution.changed_accounts.len())
                * (BATCH_RECORD_OVERHEAD + MAX_SMALL_RECORD)
            // The stale-page record lists each page by its key and a length byte.
            + execution.tree.stale_pages.len() * BATCH_RECORD_OVERHEAD
            // The block's hash, its root and the metadata.
            + 4096;
        let mut batch = WriteBatch::with_capacity_bytes(reserve);
        batch.put_cf(self.cf(CF_BLOCKS)?, height_key, encoded_block);
        batch.put_cf(self.cf(CF_BLOCK_HASHES)?, block_hash.0, height_key);
        batch.put_cf(self.cf(CF_CERTIFICATES)?, height_key, certificate);
        for bytes in &block.evidence {
            batch.put_cf(self.cf(CF_EVIDENCE)?, Hash::digest(bytes).0, height_key);
        }
        // One buffer for every key and value: a block writes tens of thousands of records.
        let mut key = Vec::with_capacity(64);
        let mut value = Vec::with_capacity(256);
        let tx_index = self.cf(CF_TX_INDEX)?;
        let mut receipts: Vec<&Receipt> = execution.receipts.iter().collect();
        receipts.sort_unstable_by_key(|receipt| receipt.tx_hash);
        for receipt in receipts {
            encoding::encode_into(receipt, &mut value);
            batch.put_cf(tx_index, receipt.tx_hash.0, &value);
        }
        let accounts = self.cf(CF_ACCOUNTS)?;
        for (address, account) in &execution.changed_accounts {
            encoding::encode_into(account, &mut value);
            batch.put_cf(accounts, address.0, &value);
        }
        if !execution.tree.stale_pages.is_empty() {
            // One record per version, not one per page: a block makes thousands of pages stale,
            // and every record is a memtable insert on the commit path.
            let mut stale = Vec::with_capacity(execution.tree.stale_pages.len() * 16);
            for page_key in &execution.tree.stale_pages {
                page_key.encode_into(&mut key);
                // A page key is at most 9 + 32 bytes.
                stale.push(key.len() as u8);
                stale.extend_from_slice(&key);
            }
            batch.put_cf(self.cf(CF_TREE_STALE)?, height_key, stale);
        }
        batch.put_cf(
            self.cf(CF_TREE_ROOTS)?,
            height_key,
            encoding::encode(&execution.tree.root),
        );
        let oldest_version = self.prune_into(&mut batch, meta, height)?;
        let next_meta = ChainMeta {
            latest_height: height,
            latest_block_hash: block_hash,
            oldest_version,
            ..meta.clone()
        };
        batch.put_cf(self.cf(CF_META)?, META_CHAIN, encoding::encode(&next_meta));
        Ok((batch, next_meta))
    }

    /// Writes a block's new pages, unsynced, in one batch per core that RocksDB inserts side by
    /// side. Nothing reaches them until the block's own batch writes the root that leads to them.
    fn write_pages_ahead(&self, pages: &[NewPage]) -> Result<(), LedgerError> {
        let tree_pages = self.cf(CF_TREE_PAGES)?;
        // In key order, each insert into the memtable's skip list starts where the last ended.
        // An update emits the pages of each level in key order (it walks the keys left to
        // right), so ordering by level alone sorts them, without comparing keys behind pointers;
        // were that ever not so, the inserts would only be slower.
        let mut order: Vec<(u8, u32)> = (0u32..)
            .zip(pages)
            .map(|(index, page)| (page.key.level, index))
            .collect();
        order.sort_unstable();
        let part_len = order
            .len()
            .div_ceil(rayon::current_num_threads().max(1))
            .max(1);
        order.par_chunks(part_len).try_for_each(|part| {
            let reserve = part
                .iter()
                .map(|(_, index)| pages[*index as usize].page.bytes().len() + BATCH_RECORD_OVERHEAD)
                .sum();
            let mut batch = WriteBatch::with_capacity_bytes(reserve);
            let mut key = Vec::with_capacity(64);
            for (_, index) in part {
                let page = &pages[*index as usize];
                page.key.encode_into(&mut key);
                batch.put_cf(tree_pages, &key, page.page.bytes());
            }
            Ok(self.db.write(batch)?)
        })
    }

    /// Puts a block's accounts and new pages into the caches; each new page takes the place of
    /// the one it replaced.
    fn cache_block(&self, execution: &BlockExecution) {
        for (address, account) in &execution.changed_accounts {
            self.account_cache.insert(*address, Some(*account));
        }
        for page in &execution.tree.new_pages {
            self.page_cache.insert(
                PagePosition::of(&page.key),
                (page.key.version, page.page.clone()),
            );
        }
    }

    /// Adds to `batch` the deletion of every tree version older than the retention window allows
    /// once `height` is committed; returns the oldest version kept.
    fn prune_into(
        &self,
        batch: &mut WriteBatch,
        meta: &ChainMeta,
        height: u64,
    ) -> Result<u64, LedgerError> {
        let oldest_kept = (height + 1)
            .saturating_sub(self.config.retained_versions)
            .max(meta.oldest_version);
        if oldest_kept == meta.oldest_version {
            return Ok(oldest_kept);
        }
        // A page made stale at version `s` was last live at `s - 1`; once `s - 1` is older than
        // the oldest kept version, nothing can reach it.
        let stale_cf = self.cf(CF_TREE_STALE)?;
        let corrupt = || LedgerError::Corrupt {
            reason: "bad stale-page record".into(),
        };
        for entry in self.db.iterator_cf(stale_cf, IteratorMode::Start) {
            let (key, pages) = entry?;
            let stale_since = <[u8; 8]>::try_from(&key[..])
                .map(u64::from_be_bytes)
                .map_err(|_| corrupt())?;
            if stale_since > oldest_kept {
                break;
            }
            let mut rest = &pages[..];
            while let Some((&len, tail)) = rest.split_first() {
                let page_key = tail.get(..usize::from(len)).ok_or_else(corrupt)?;
                batch.delete_cf(self.cf(CF_TREE_PAGES)?, page_key);
                rest = &tail[usize::from(len)..];
            }
            batch.delete_cf(stale_cf, &key);
        }
        for version in meta.oldest_version..oldest_kept {
            batch.delete_cf(self.cf(CF_TREE_ROOTS)?, version.to_be_bytes());
        }
        Ok(oldest_kept)
    }

    /// The latest state of `address` from the flat table (no proof).
    pub fn account(&self, address: &Address) -> Result<Option<Account>, LedgerError> {
        Ok(self
            .accounts(std::slice::from_ref(address))?
            .pop()
            .flatten())
    }

    /// The state of `address` at `height`, read through the tree, with its proof.
    pub fn account_proof(
        &self,
        address: &Address,
        height: u64,
    ) -> Result<AccountProof, LedgerError> {
        let root = self.tree_root(height)?;
        let state_root = root.hash();
        let proof = SparseMerkleTree::new(self).prove(root, &address.state_key())?;
        let account = verify_account_proof(&state_root, address, &proof)?;
        Ok(AccountProof {
            address: *address,
            height,
            state_root,
            account,
            proof,
        })
    }

    pub fn block(&self, height: u64) -> Result<Option<Block>, LedgerError> {
        if !self.is_committed(height) {
            return Ok(None);
        }
        self.db
            .get_cf(self.cf(CF_BLOCKS)?, height.to_be_bytes())?
            .map(|bytes| encoding::decode("stored block", &bytes))
            .transpose()
    }

    pub fn block_height(&self, hash: &Hash) -> Result<Option<u64>, LedgerError> {
        let height = self
            .db
            .get_cf(self.cf(CF_BLOCK_HASHES)?, hash.0)?
            .map(|bytes| {
                <[u8; 8]>::try_from(bytes.as_slice())
                    .map(u64::from_be_bytes)
                    .map_err(|_| LedgerError::Corrupt {
                        reason: "bad block height".into(),
                    })
            })
            .transpose()?;
        Ok(height.filter(|height| self.is_committed(*height)))
    }

    pub fn block_by_hash(&self, hash: &Hash) -> Result<Option<Block>, LedgerError> {
        match self.block_height(hash)? {
            Some(height) => self.block(height),
            None => Ok(None),
        }
    }

    /// The commit certificate stored with the block at `height`.
    pub fn certificate(&self, height: u64) -> Result<Option<Vec<u8>>, LedgerError> {
        if !self.is_committed(height) {
            return Ok(None);
        }
        Ok(self
            .db
            .get_cf(self.cf(CF_CERTIFICATES)?, height.to_be_bytes())?)
    }

    /// Where a committed transaction is, and what it did.
    pub fn receipt(&self, tx_hash: &Hash) -> Result<Option<Receipt>, LedgerError> {
        let receipt: Option<Receipt> = self
            .db
            .get_cf(self.cf(CF_TX_INDEX)?, tx_hash.0)?
            .map(|bytes| encoding::decode("receipt", &bytes))
            .transpose()?;
        Ok(receipt.filter(|receipt| self.is_committed(receipt.height)))
    }

    /// Whether the block at `height` is committed. Its records reach RocksDB a moment before
    /// its commit returns (see [`LedgerStore::commit_block`]); readers see them only after.
    fn is_committed(&self, height: u64) -> bool {
        self.meta
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(|meta| height <= meta.latest_height)
    }

    /// Every leaf of the state tree at `version` decoded as accounts, for audits and tests.
    pub fn tree_accounts(&self, version: u64) -> Result<Vec<(Hash, Account)>, LedgerError> {
        let root = self.tree_root(version)?;
        SparseMerkleTree::new(self)
            .leaves(root)?
            .into_iter()
            .map(|leaf| Ok((leaf.key, encoding::decode("account", &leaf.value)?)))
            .collect()
    }

    /// Counts the stored tree pages (for size reports and pruning tests).
    pub fn tree_page_count(&self) -> Result<usize, LedgerError> {
        let mut count = 0;
        for entry in self.db.iterator_cf(
            self.cf(CF_TREE_PAGES)?,
            IteratorMode::From(&[], Direction::Forward),
        ) {
            entry?;
            count += 1;
        }
        Ok(count)
    }

    /// The version of the newest stored tree page, if any: never above the latest height once
    /// the store is open (for audits and tests).
    pub fn newest_page_version(&self) -> Result<Option<u64>, LedgerError> {
        let mut newest = self
            .db
            .iterator_cf(self.cf(CF_TREE_PAGES)?, IteratorMode::End);
        newest
            .next()
            .transpose()?
            .map(|(key, _)| Ok(PageKey::decode(&key)?.version))
            .transpose()
    }

    /// The height of the newest block record on disk, whether readers see it yet or not: never
    /// above the latest height once the store is open (for audits and tests).
    pub fn newest_stored_block_height(&self) -> Result<Option<u64>, LedgerError> {
        let mut newest = self.db.iterator_cf(self.cf(CF_BLOCKS)?, IteratorMode::End);
        newest
            .next()
            .transpose()?
            .map(|(key, _)| {
                <[u8; 8]>::try_from(&key[..])
                    .map(u64::from_be_bytes)
                    .map_err(|_| LedgerError::Corrupt {
                        reason: "bad block key".into(),
                    })
            })
            .transpose()
    }

    /// Writes what RocksDB holds in memory to table files. Commits never need it (their log is
    /// synced); a clean shutdown can call it so the next open replays nothing.
    pub fn flush(&self) -> Result<(), LedgerError> {
        let families = ALL_CFS
            .iter()
            .map(|name| self.cf(name))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self
            .db
            .flush_cfs_opt(&families, &rocksdb::FlushOptions::default())?)
    }

    fn cf(&self, name: &str) -> Result<&ColumnFamily, LedgerError> {
        cf(&self.db, name)
    }

    fn write_synced(&self, batch: WriteBatch) -> Result<(), LedgerError> {
        let mut options = WriteOptions::default();
        options.set_sync(true);
        Ok(self.db.write_opt(batch, &options)?)
    }
}

/// Removes the tree pages of versions above `latest`: pages a commit wrote ahead of a block
/// batch that never landed. No root reaches them, and the next commit at their height may write
/// other pages at other positions.
fn remove_pages_above(db: &DB, latest: u64) -> Result<(), LedgerError> {
    let Some(first_unreachable) = latest.checked_add(1) else {
        return Ok(());
    };
    let start = first_unreachable.to_be_bytes();
    let tree_pages = cf(db, CF_TREE_PAGES)?;
    let mut above = db.iterator_cf(tree_pages, IteratorMode::From(&start, Direction::Forward));
    if above.next().transpose()?.is_none() {
        return Ok(());
    }
    // Past every page key: a version, a level and at most 32 bytes of path.
    let end = [0xff; 64];
    // Unsynced: a crash before the next commit syncs the log leaves the pages for the next open,
    // and a later write of the same key wins over the deletion.
    db.delete_range_cf(tree_pages, &start[..], &end[..])?;
    Ok(())
}

fn cf<'a>(db: &'a DB, name: &str) -> Result<&'a ColumnFamily, LedgerError> {
    db.cf_handle(name).ok_or_else(|| LedgerError::Corrupt {
        reason: format!("column family {name} is missing"),
    })
}

/// Whether files in `dir` can be opened for direct I/O; tmpfs, for one, refuses it, and RocksDB
/// would then fail its first flush.
#[cfg(target_os = "linux")]
fn supports_direct_io(dir: &Path) -> bool {
    use std::os::unix::fs::OpenOptionsExt;
    let probe = dir.join("DIRECT_IO_PROBE");
    let supported = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_DIRECT)
        .open(&probe)
        .is_ok();
    let _ = std::fs::remove_file(&probe);
    supported
}

/// Direct I/O is only used on Linux.
#[cfg(not(target_os = "linux"))]
fn supports_direct_io(_dir: &Path) -> bool {
    false
}

fn next_height(meta: &ChainMeta) -> Result<u64, LedgerError> {
    meta.latest_height
        .checked_add(1)
        .ok_or_else(|| LedgerError::Corrupt {
            reason: "height overflow".into(),
        })
}

impl PageSource for LedgerStore {
    fn page(&self, key: &PageKey, expected: &Hash) -> Result<Page, LedgerError> {
        let position = PagePosition::of(key);
        if let Some((_, page)) = self.page_cache.get(&position) {
            if page.hash() == *expected {
                return Ok(page);
            }
        }
        let bytes = self
            .db
            .get_pinned_cf(self.cf(CF_TREE_PAGES)?, key.encode())?;
        let page = load_page(bytes.as_deref(), key, expected)?;
        self.page_cache
            .insert_if_newer(position, (key.version, page.clone()));
        Ok(page)
    }
}

impl StateView for LedgerStore {
    fn accounts(&self, addresses: &[Address]) -> Result<Vec<Option<Account>>, LedgerError> {
        let epoch = self.account_epoch.load(Ordering::SeqCst);
        // While a commit is in flight its list is the truth for the block's accounts: the cache
        // may still hold their older values (it takes the new ones one by one) or may have
        // evicted the new ones already, and the database has not got them yet.
        let committing = self
            .committing
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let lookup = |address: &Address| -> Option<Option<Account>> {
            if let Some(committing) = &committing {
                if let Ok(found) =
                    committing.binary_search_by(|(candidate, _)| candidate.cmp(address))
                {
                    return Some(Some(committing[found].1));
                }
            }
            self.account_cache.get(address)
        };
        // A block's tens of thousands of lookups are each a cache miss or two in memory: on all
        // cores they take half the time.
        let cached: Vec<Option<Option<Account>>> = if addresses.len() > ACCOUNT_READ_CHUNK {
            addresses.par_iter().map(lookup).collect()
        } else {
            addresses.iter().map(lookup).collect()
        };
        let mut missing: Vec<usize> = Vec::new();
        let mut accounts: Vec<Option<Account>> = Vec::with_capacity(addresses.len());
        for (index, account) in cached.into_iter().enumerate() {
            if account.is_none() {
                missing.push(index);
            }
            accounts.push(account.flatten());
        }
        if missing.is_empty() {
            return Ok(accounts);
        }
        let read_chunk = |chunk: &[usize]| -> Result<Vec<Option<Account>>, LedgerError> {
            let cf = self.cf(CF_ACCOUNTS)?;
            self.db
                .batched_multi_get_cf(
                    cf,
                    chunk.iter().map(|index| &addresses[*index].0[..]),
                    false,
                )
                .into_iter()
                .map(|result| {
                    result?
                        .map(|bytes| encoding::decode("account", &bytes))
                        .transpose()
                })
                .collect()
        };
        let read = if missing.len() <= ACCOUNT_READ_CHUNK {
            // A wallet's lookup: no hand-off to the thread pool.
            read_chunk(&missing)?
        } else {
            // A cold block touches tens of thousands of accounts; one multi-get per chunk, chunks
            // on all cores, keeps the reads off the critical path of a single thread.
            let chunks: Vec<Result<Vec<Option<Account>>, LedgerError>> = missing
                .par_chunks(ACCOUNT_READ_CHUNK)
                .map(read_chunk)
                .collect();
            let mut read = Vec::with_capacity(missing.len());
            for chunk in chunks {
                read.extend(chunk?);
            }
            read
        };
        // What the database gave is cached only if no commit was in flight or began since this
        // read did: the gate keeps a commit from beginning while the values go in.
        let committing = self
            .committing
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let cacheable =
            epoch.is_multiple_of(2) && self.account_epoch.load(Ordering::SeqCst) == epoch;
        for (index, account) in missing.into_iter().zip(read) {
            if cacheable {
                self.account_cache.insert(addresses[index], account);
            }
            accounts[index] = account;
        }
        drop(committing);
        Ok(accounts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{open_funded_store, test_address, test_key, transfer, TEST_CHAIN_ID};

    #[test]
    fn a_blocks_records_are_unseen_until_its_commit_returns() {
        let dir = tempfile::tempdir().unwrap();
        let open = || open_funded_store(dir.path(), StoreConfig::default(), 10, 1_000).unwrap();
        let store = open();
        let transactions = vec![transfer(
            &test_key(1),
            TEST_CHAIN_ID,
            0,
            test_address(2),
            5,
            1,
        )];
        let (block, execution) = store
            .propose_block(
                1,
                test_address(9),
                Hash::ZERO,
                transactions,
                SignaturePolicy::VerifyAll,
            )
            .unwrap();
        // What a commit has written by the time the block's batch waits for its sync.
        let meta = store.require_meta().unwrap();
        store.write_pages_ahead(&execution.tree.new_pages).unwrap();
        let (batch, _) = store
            .commit_batch(&block, &execution, b"certificate", &meta, 1)
            .unwrap();
        store.db.write(batch).unwrap();
        let unseen = |store: &LedgerStore| {
            store.block(1).unwrap().is_none()
                && store.block_by_hash(&block.hash()).unwrap().is_none()
                && store.certificate(1).unwrap().is_none()
                && store.receipt(&execution.tx_hashes[0]).unwrap().is_none()
        };
        assert!(unseen(&store));
        assert_eq!(store.newest_stored_block_height().unwrap(), Some(1));
        assert_eq!(store.latest_height(), Some(0));
        drop(store);

        // The batch holds the metadata too: once it is on disk, the block is committed.
        let store = open();
        assert_eq!(store.latest_height(), Some(1));
        assert!(!unseen(&store));
        assert_eq!(store.block(1).unwrap(), Some(block));
    }

    #[test]
    fn pages_written_ahead_of_a_batch_that_never_landed_are_gone_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let open = || open_funded_store(dir.path(), StoreConfig::default(), 50, 1_000).unwrap();
        let store = open();
        let transactions: Vec<_> = (0..20)
            .map(|i| transfer(&test_key(i), TEST_CHAIN_ID, 0, test_address(i + 30), 5, 1))
            .collect();
        let (block, execution) = store
            .propose_block(
                1,
                test_address(49),
                Hash::ZERO,
                transactions,
                SignaturePolicy::VerifyAll,
            )
            .unwrap();
        // A commit that stops after its pages, as a crash would stop it.
        store.write_pages_ahead(&execution.tree.new_pages).unwrap();
        assert_eq!(store.newest_page_version().unwrap(), Some(1));
        drop(store);

        let store = open();
        assert_eq!(store.latest_height(), Some(0));
        assert_eq!(store.newest_page_version().unwrap(), Some(0));
        // The same block commits whole after all.
        store.commit_block(&block, &execution, b"").unwrap();
        assert_eq!(store.newest_page_version().unwrap(), Some(1));
        let supply: u64 = store
            .tree_accounts(1)
            .unwrap()
            .iter()
            .map(|(_, account)| account.balance)
            .sum();
        assert_eq!(supply, 50 * 1_000);
        drop(store);
        let store = open();
        assert_eq!(store.latest_height(), Some(1));
        assert_eq!(store.newest_page_version().unwrap(), Some(1));
    }
}
