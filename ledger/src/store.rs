//! The ledger's store on RocksDB: blocks, transactions, accounts, the state tree and metadata.
//!
//! # Layout (one column family each)
//! | family | key | value |
//! |---|---|---|
//! | `blocks` | height (u64 BE) | the block, canonical encoding |
//! | `block_hashes` | block hash | height (u64 BE) |
//! | `tx_index` | transaction hash | its [`Receipt`] (height, position, sender, nonce, fee) |
//! | `certificates` | height (u64 BE) | the block's commit certificate, as consensus encodes it |
//! | `accounts` | address | the latest [`Account`] as of the last checkpoint written: the flat table, never the tree |
//! | `tree_pages` | [`PageKey`] | a page of the state tree |
//! | `tree_stale` | version (u64 BE) | the [`PageKey`]s no longer live from that version on, each behind a u8 length |
//! | `tree_roots` | version (u64 BE) | the root [`ChildRef`] of that version |
//! | `changes` | height (u64 BE) | the accounts that block changed, for every retained version after the oldest |
//! | `meta` | `"chain"` | [`ChainMeta`]: chain id, genesis hash, latest height and block hash, oldest kept version |
//!
//! `accounts` and `tx_index` also hold, under the empty key, the last height whose records they
//! hold (u64 BE); `tree_pages` holds an empty record after each checkpoint's pages, at the
//! version (u64 BE) and the level 255, which no page has.
//!
//! # Atomicity
//! Committing a block (or the genesis state) writes one `WriteBatch` with `sync`: the block, its
//! certificate, the accounts it changed (`changes`), stale index, tree root and metadata, and the
//! pruning of old tree versions. That batch is the commit: after a crash at any moment the store
//! is at the last block whose batch landed, never between two.
//!
//! What follows from a committed block alone (the tree pages, the flat accounts and the
//! transaction index, all at checkpoints) is written later, without RocksDB's log:
//! logging it cost a copy, a checksum and a write of every byte, and its bulk filled the log
//! so fast that the small families were flushed, and compacted, four times as often. A crash
//! loses what of it RocksDB had only in memory; each of those families loses a tail of heights
//! (memtables are flushed whole and in order), and what is left says where that tail begins.
//! Opening the store rebuilds the tail from what the log kept: the pages by applying the
//! `changes` of each height after the last checkpoint on disk to the tree before it, the accounts
//! from the same `changes`, and the receipts from the blocks. No tree version is pruned past
//! the last height all three families hold on disk.
//!
//! # Checkpoints
//! The tree's pages are written only at checkpoints, every [`TREE_CHECKPOINT_INTERVAL`]
//! versions, and then only the pages the checkpoint's tree uses. Between two, the live pages
//! of the later versions are held in memory, and pages replaced before the next checkpoint are
//! dropped unwritten: most of them, since a block rewrites the pages on its paths and the next
//! blocks rewrite most of them again. The latest version, the one before it and the checkpoints
//! read whole from the store; a version between checkpoints is read by replaying the `changes`
//! after the checkpoint below it, which is why `changes` are kept for the retained versions. The
//! oldest version kept is always a checkpoint.
//!
//! The flat accounts table takes its records at checkpoints too: every account changed since the
//! last one, once. Until then they are held in memory ([`UnwrittenAccounts`]), and reads of the
//! latest state look there after the cache. So does the transaction index: each block's receipts
//! are held in memory ([`UnwrittenReceipts`]) and looked up there first. A checkpoint's pages,
//! accounts and receipts are written by a thread of its own, behind the blocks that follow, and
//! stay readable in memory until written.
//!
//! # Writes
//! Flushes and compactions use direct I/O where the filesystem takes it: they rewrite every
//! block's pages, and the page cache only adds a copy and its own allocation to that.
//!
//! # Caches
//! Decoded tree pages and the latest accounts are kept in memory ([`StoreConfig`]), so executing
//! the next block reads from disk only what was evicted. The accounts cache only ever holds what
//! the database and the unwritten accounts hold, or are about to once the commit in progress
//! returns. Pages go into theirs as an update builds them, while they are still in the
//! processor's cache, before any commit: every hit is checked against the hash its parent
//! expects, so a page of a block that never commits is only a miss.

use std::{
    path::Path,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex, PoisonError, RwLock,
    },
    thread::JoinHandle,
};

use borsh::{BorshDeserialize, BorshSerialize};
use quick_cache::sync::Cache as MemoryCache;
use rayon::prelude::*;
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, Direction, FlushOptions,
    IteratorMode, Options, ReadOptions, ReadTier, WriteBatch, WriteOptions, DB,
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
        TreeUpdate,
    },
    tx::SignedTransaction,
    unwritten_accounts::{self, AccountMap, AccountsUndo, UnwrittenAccounts},
    unwritten_pages::{self, UnwrittenPages},
    unwritten_receipts::{self, BlockReceipts, UnwrittenReceipts},
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
const CF_CHANGES: &str = "changes";
const ALL_CFS: [&str; 11] = [
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
    CF_CHANGES,
];
const META_CHAIN: &[u8] = b"chain";

/// The families a commit writes after its batch, without the log; opening the store rebuilds
/// what a crash took from them.
const DERIVED_CFS: [&str; 3] = [CF_TREE_PAGES, CF_ACCOUNTS, CF_TX_INDEX];
/// The derived families that mark, under [`DERIVED_HEIGHT`], the last height whose records they
/// hold. The tree's pages mark each version apart instead ([`page_mark`]): one key rewritten by
/// every block would make each flushed file of pages overlap all the others, and RocksDB would
/// merge them all again instead of moving them down as they are.
const MARKED_CFS: [&str; 2] = [CF_ACCOUNTS, CF_TX_INDEX];
/// The level byte of a version's mark in `tree_pages` (see [`page_mark`]).
const PAGE_MARK_LEVEL: u8 = u8::MAX;
/// The key of the mark in [`MARKED_CFS`]: no address or transaction hash is empty.
const DERIVED_HEIGHT: &[u8] = b"";
/// Memtables each derived family may hold, the one being filled included (RocksDB's default is
/// two): see where the families are opened.
const DERIVED_MEMTABLES: i32 = 4;
/// Most heights the derived families may hold only in memory before a commit asks RocksDB to
/// flush them: under load their memtables fill and flush long before, but an idle chain's
/// would not, and every such height is rebuilt after a crash and keeps its `changes`.
const MAX_UNFLUSHED_HEIGHTS: u64 = 10_000;

/// Versions of the tree whose pages are all written are the multiples of this: checkpoints.
/// Between two, the live pages of later versions are held in memory ([`UnwrittenPages`]), and a
/// page replaced before the next checkpoint is never written. At a million accounts and 10,000
/// transfers a block, a checkpoint writes about 72,000 pages, the whole tree, where writing every
/// version's pages would write 21,800 (17 MB) a block. A version between checkpoints is read back
/// by applying its `changes`, and those of the versions before it, to the checkpoint below it:
/// up to 63 tree updates. Fixed, because which versions a store holds
/// whole follows from it.
pub const TREE_CHECKPOINT_INTERVAL: u64 = 64;

/// The newest checkpoint at or below `version`.
fn checkpoint_at_or_below(version: u64) -> u64 {
    version - version % TREE_CHECKPOINT_INTERVAL
}

/// Bound on RocksDB's write-ahead log files taken together.
const MAX_TOTAL_WAL_BYTES: u64 = 256 << 20;

/// Accounts read in one multi-get; chunks are read in parallel.
const ACCOUNT_READ_CHUNK: usize = 4096;

/// How the store keeps its data.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Tree versions (heights) kept readable for proofs; older ones are pruned. At least 1. The
    /// oldest version kept is the newest checkpoint at or below the window's start, so up to
    /// [`TREE_CHECKPOINT_INTERVAL`] - 1 versions more are kept; and it is pruned only once RocksDB
    /// holds a later checkpoint's pages on disk (see the module's notes).
    pub retained_versions: u64,
    /// Tree pages kept decoded in memory. A page holds 16 leaves or so at its bottom, and up to
    /// four more below each; a million accounts make about 74,000 pages, of a few hundred bytes
    /// to a few kilobytes each in memory. The top levels of the tree that fit this budget whole
    /// (at most 1,118,481 positions, down to depth 20) keep their pages for good, each in a slot
    /// of its own; deeper pages share the rest, the least used going first.
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
    /// Shared with the thread that writes a checkpoint behind the blocks after it.
    db: Arc<DB>,
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
    /// until the unwritten accounts hold them. Readers take the block's accounts from here, ahead
    /// of the cache (which takes the new values one by one, and may evict one at once) and of the
    /// unwritten accounts and the database (which still hold the older ones). Held shared by a
    /// reader while it caches what it read from the database, and exclusively to start a commit,
    /// so that no read from before a commit is cached after the commit began.
    committing: RwLock<Option<Arc<ChangedAccounts>>>,
    /// Bumped when a commit starts and when it ends: odd while one is in flight. A reader caches
    /// what it read from the database only if the epoch is even and unchanged since it began.
    account_epoch: AtomicU64,
    /// The lowest height whose `changes` record may still be on disk.
    changes_from: AtomicU64,
    /// The live pages of the versions since the last checkpoint written.
    unwritten: Arc<UnwrittenPages>,
    /// The accounts changed since the flat table last took them, at the last checkpoint written.
    unwritten_accounts: Arc<RwLock<UnwrittenAccounts>>,
    /// The receipts of the blocks since the transaction index last took them, at the last
    /// checkpoint written.
    unwritten_receipts: Arc<RwLock<UnwrittenReceipts>>,
    /// The thread writing the last checkpoint's pages, accounts and receipts, until it is joined.
    checkpoint_writer: Mutex<Option<JoinHandle<Result<(), LedgerError>>>>,
    /// The last version read by replay (see [`LedgerStore::read_tree`]).
    replay: Mutex<Replay>,
    /// The last checkpoint known to have all its pages on disk.
    pages_durable: AtomicU64,
    /// The height at which a commit last asked RocksDB to flush the derived families.
    flush_requested_at: AtomicU64,
    /// Set when a block's batch landed but its derived records could not be written: only
    /// reopening the store (which rebuilds them) makes it whole again.
    needs_reopen: Arc<AtomicBool>,
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
            if DERIVED_CFS.contains(name) {
                // A checkpoint's writer puts tens of megabytes into each of these at once, while
                // their flushes run at the lowest CPU priority behind the blocks. With two
                // memtables, a family whose flush fell behind stopped every write to the
                // database, the next block's commit included, for up to half a second; more
                // room lets the flushes catch up instead.
                family.set_max_write_buffer_number(DERIVED_MEMTABLES);
            }
            ColumnFamilyDescriptor::new(*name, family)
        });
        let db = DB::open_cf_descriptors(&options, path, families)?;
        let meta = match db.get_cf(cf(&db, CF_META)?, META_CHAIN)? {
            Some(bytes) => Some(encoding::decode::<ChainMeta>("chain metadata", &bytes)?),
            None => None,
        };
        if let Some(meta) = &meta {
            // Only stores of an earlier layout, which wrote pages ahead of the block's batch,
            // can hold pages above the latest height.
            remove_pages_above(&db, meta.latest_height)?;
        }
        let store = LedgerStore {
            db: Arc::new(db),
            page_cache: PageCache::new(config.page_cache_pages),
            account_cache: MemoryCache::new(config.account_cache_entries.max(1)),
            committing: RwLock::new(None),
            account_epoch: AtomicU64::new(0),
            changes_from: AtomicU64::new(0),
            unwritten: Arc::new(UnwrittenPages::default()),
            unwritten_accounts: Arc::new(RwLock::new(UnwrittenAccounts::default())),
            unwritten_receipts: Arc::new(RwLock::new(UnwrittenReceipts::default())),
            checkpoint_writer: Mutex::new(None),
            replay: Mutex::new(Replay::default()),
            pages_durable: AtomicU64::new(0),
            flush_requested_at: AtomicU64::new(0),
            needs_reopen: Arc::new(AtomicBool::new(false)),
            commit_lock: Mutex::new(()),
            config,
            meta: RwLock::new(meta),
        };
        store.rebuild_derived()?;
        Ok(store)
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
        // Genesis writes its derived records with the log, in its one batch.
        for family in MARKED_CFS {
            batch.put_cf(self.cf(family)?, DERIVED_HEIGHT, 0u64.to_be_bytes());
        }
        batch.put_cf(self.cf(CF_TREE_PAGES)?, page_mark(0), []);
        batch.put_cf(self.cf(CF_META)?, META_CHAIN, encoding::encode(&meta));
        self.write_synced(batch)?;
        self.changes_from.store(1, Ordering::SeqCst);
        self.pages_durable.store(0, Ordering::SeqCst);
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
        Ok(tree.root_hash())
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

    /// Commits a decided block with its execution and commit certificate: one synced batch that
    /// makes the block part of the store, then its derived records (see the module's notes).
    ///
    /// Once the block is committed, the store takes the tree pages the execution wrote
    /// (`execution.tree.new_pages` is empty after), instead of holding a second reference to
    /// each: tens of thousands of pages a block, each reference one cache miss to take and one to
    /// drop. A commit whose block batch fails leaves the execution whole (its new pages perhaps
    /// in another order).
    pub fn commit_block(
        &self,
        block: &Block,
        execution: &mut BlockExecution,
        certificate: &[u8],
    ) -> Result<(), LedgerError> {
        let _commit = self
            .commit_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.require_whole()?;
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
        let durable = self.durable_height_for(&meta, height)?;
        // The account cache takes the block while its batch is built, written and synced: it
        // need not wait for the sync, and takes the core the sync leaves idle. Readers of
        // accounts go on meanwhile: they take the block's accounts from `committing` until the
        // commit ends, and the rest from the cache, the unwritten accounts or the database, where
        // the block changes nothing. A failed commit takes the block's accounts back out of the
        // cache.
        let changed_accounts = Arc::new(execution.changed_accounts.clone());
        {
            let mut committing = self
                .committing
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            *committing = Some(Arc::clone(&changed_accounts));
            self.account_epoch.fetch_add(1, Ordering::SeqCst);
        }
        let new_pages = std::mem::take(&mut execution.tree.new_pages);
        let checkpoint = height.is_multiple_of(TREE_CHECKPOINT_INTERVAL);
        let execution_ref: &BlockExecution = execution;
        let (written, recorded) = rayon::join(
            || {
                let (batch, next_meta) =
                    self.commit_batch(block, execution_ref, certificate, &meta, height, durable)?;
                self.write_synced(batch)?;
                Ok::<_, LedgerError>(next_meta)
            },
            || {
                let record_ahead = || {
                    if checkpoint {
                        Recorded::AtCheckpoint(new_pages)
                    } else {
                        Recorded::Ahead(self.record_ahead(height, new_pages, execution_ref))
                    }
                };
                let (recorded, ()) = rayon::join(record_ahead, || {
                    for (address, account) in changed_accounts.iter() {
                        self.account_cache.insert(*address, Some(*account));
                    }
                });
                recorded
            },
        );
        let next_meta = match written {
            Ok(next_meta) => next_meta,
            Err(error) => {
                for (address, _) in changed_accounts.iter() {
                    self.account_cache.remove(address);
                }
                execution.tree.new_pages = match recorded {
                    Recorded::Ahead(ahead) => self.withdraw_ahead(height, ahead),
                    Recorded::AtCheckpoint(new_pages) => new_pages,
                };
                self.end_commit();
                return Err(error);
            }
        };
        let derived = match recorded {
            Recorded::Ahead(ahead) => {
                self.unwritten_receipts
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .record_sorted(ahead.receipts);
                Ok(())
            }
            Recorded::AtCheckpoint(new_pages) => self.write_checkpoint_derived(
                height,
                new_pages,
                &execution.tree.stale_pages,
                &execution.changed_accounts,
                &execution.receipts,
            ),
        };
        // The block is committed. Readers do not see it before this returns: every read of a
        // height's records checks the height against `meta`, and the block's accounts are
        // read from `committing` until then.
        self.changes_from
            .fetch_max(next_meta.oldest_version.saturating_add(1), Ordering::SeqCst);
        match derived {
            Ok(()) => self.end_commit(),
            // `committing` stays: the block's accounts are still read right until the store
            // is reopened.
            Err(_) => self.needs_reopen.store(true, Ordering::SeqCst),
        }
        *self.meta.write().unwrap_or_else(PoisonError::into_inner) = Some(next_meta);
        derived
    }

    /// Records what a block between checkpoints implies for the derived families while its
    /// batch is still being written and synced: its pages and accounts join the unwritten ones,
    /// and its receipts are sorted, to join theirs once the block is committed. Readers see
    /// none of it before: a version's pages are reached only from its root, which is not
    /// readable before the commit returns, and the block's accounts are read from `committing`
    /// meanwhile. (Measured at a million accounts: recording after the sync left a core idle
    /// for most of the sync, and commits took about 1.3 ms longer.)
    fn record_ahead(
        &self,
        height: u64,
        new_pages: Vec<NewPage>,
        execution: &BlockExecution,
    ) -> RecordedAhead {
        let on_disk_through = checkpoint_at_or_below(height.saturating_sub(1));
        let ((), (accounts, receipts)) = rayon::join(
            || {
                self.unwritten
                    .record(new_pages, &execution.tree.stale_pages, on_disk_through)
            },
            || {
                let undo = self
                    .unwritten_accounts
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .record_undoable(&execution.changed_accounts);
                (undo, unwritten_receipts::sort_block(&execution.receipts))
            },
        );
        RecordedAhead { accounts, receipts }
    }

    /// Takes back what [`LedgerStore::record_ahead`] recorded for a block whose batch failed;
    /// returns its pages.
    fn withdraw_ahead(&self, height: u64, ahead: RecordedAhead) -> Vec<NewPage> {
        self.unwritten_accounts
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .undo(ahead.accounts);
        self.unwritten.withdraw(height)
    }

    /// Ends a commit's hold on the accounts: readers may cache what they read again.
    fn end_commit(&self) {
        *self
            .committing
            .write()
            .unwrap_or_else(PoisonError::into_inner) = None;
        self.account_epoch.fetch_add(1, Ordering::SeqCst);
    }

    fn require_whole(&self) -> Result<(), LedgerError> {
        if self.needs_reopen.load(Ordering::SeqCst) {
            return Err(LedgerError::Corrupt {
                reason: "a committed block's derived records could not be written; reopen the \
                         store to rebuild them"
                    .into(),
            });
        }
        Ok(())
    }

    /// The last height whose derived records are all on disk, as far as committing the block at
    /// `height` needs to know: pruning keeps every version from there on, so that a crash can
    /// be repaired. When the retention window would prune past it, the derived families are
    /// flushed first, so the window holds; and when it lags far behind, a flush is asked for.
    fn durable_height_for(&self, meta: &ChainMeta, height: u64) -> Result<u64, LedgerError> {
        // The block being committed is never durable yet.
        let wanted_oldest = checkpoint_at_or_below(
            (height + 1)
                .saturating_sub(self.config.retained_versions)
                .min(height.saturating_sub(1)),
        );
        let durable = self.durable_height()?;
        if durable < wanted_oldest && wanted_oldest > meta.oldest_version {
            self.flush_derived(true)?;
            return self.durable_height();
        }
        let requested = self.flush_requested_at.load(Ordering::SeqCst);
        if height.saturating_sub(durable) >= MAX_UNFLUSHED_HEIGHTS
            && height.saturating_sub(requested) >= MAX_UNFLUSHED_HEIGHTS
        {
            self.flush_derived(false)?;
            self.flush_requested_at.store(height, Ordering::SeqCst);
        }
        Ok(durable)
    }

    /// Has RocksDB flush the derived families' memtables, and wait for it if `wait`.
    fn flush_derived(&self, wait: bool) -> Result<(), LedgerError> {
        if wait {
            self.finish_checkpoint()?;
        }
        let families = DERIVED_CFS
            .iter()
            .map(|name| self.cf(name))
            .collect::<Result<Vec<_>, _>>()?;
        let mut options = FlushOptions::default();
        options.set_wait(wait);
        Ok(self.db.flush_cfs_opt(&families, &options)?)
    }

    /// The last height whose derived records RocksDB holds on disk in all three families (0
    /// when it cannot tell yet).
    fn durable_height(&self) -> Result<u64, LedgerError> {
        let mut persisted = ReadOptions::default();
        persisted.set_read_tier(ReadTier::Persisted);
        let mut durable = self.pages_durable_height(&persisted)?;
        for family in MARKED_CFS {
            let marker = self
                .db
                .get_cf_opt(self.cf(family)?, DERIVED_HEIGHT, &persisted)?;
            durable = durable.min(decode_height(marker.as_deref())?.unwrap_or(0));
        }
        Ok(durable)
    }

    /// The last checkpoint whose pages are on disk as `read` reads it: the last known one, or a
    /// later one whose mark is now there.
    fn pages_durable_height(&self, read: &ReadOptions) -> Result<u64, LedgerError> {
        let latest = self.require_meta()?.latest_height;
        let tree_pages = self.cf(CF_TREE_PAGES)?;
        let mut durable = self.pages_durable.load(Ordering::SeqCst);
        loop {
            let next = checkpoint_at_or_below(durable) + TREE_CHECKPOINT_INTERVAL;
            if next > latest
                || self
                    .db
                    .get_pinned_cf_opt(tree_pages, page_mark(next), read)?
                    .is_none()
            {
                break;
            }
            durable = next;
        }
        self.pages_durable.store(durable, Ordering::SeqCst);
        Ok(durable)
    }

    /// The last checkpoint whose pages are on disk, when opening: RocksDB has replayed only its
    /// log, so what it reads is what is on disk. Pages reach it in the order they were written,
    /// so the newest checkpoint whose mark is there is whole. Pruning never passes the last
    /// such checkpoint, so the oldest kept version is whole whatever comes after. (A store of
    /// the layout that wrote every version's pages has a mark at every version.)
    fn pages_held_on_opening(&self, meta: &ChainMeta) -> Result<u64, LedgerError> {
        let tree_pages = self.cf(CF_TREE_PAGES)?;
        let marked = |version: u64| -> Result<bool, LedgerError> {
            Ok(self
                .db
                .get_pinned_cf(tree_pages, page_mark(version))?
                .is_some())
        };
        if marked(meta.latest_height)? {
            return Ok(meta.latest_height);
        }
        let mut version = checkpoint_at_or_below(meta.latest_height);
        while version > meta.oldest_version && !marked(version)? {
            version = checkpoint_at_or_below(version - 1);
        }
        Ok(version.max(meta.oldest_version))
    }

    /// The write batch that commits `block` at `height`: block, certificate, changed accounts,
    /// stale index, root, pruning (never past `durable`), metadata, and the removal of the
    /// `changes` no longer needed. Returns the metadata that holds once it is written.
    fn commit_batch(
        &self,
        block: &Block,
        execution: &BlockExecution,
        certificate: &[u8],
        meta: &ChainMeta,
        height: u64,
        durable: u64,
    ) -> Result<(WriteBatch, ChainMeta), LedgerError> {
        let block_hash = block.hash();
        let height_key = height.to_be_bytes();
        let encoded_block = block.encode();
        let changes = encoding::encode(&execution.changed_accounts);
        // A batch that grows by doubling copies itself again and again (it reaches megabytes for
        // a block of 10,000 transfers); reserving room for what it will hold avoids most of
        // that. Pruning's deletions, when there are any, may still make it grow once.
        let reserve = encoded_block.len()
            + certificate.len()
            + changes.len()
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
        batch.put_cf(self.cf(CF_CHANGES)?, height_key, changes);
        // Only pages a checkpoint wrote are ever on disk to be pruned; the others are dropped
        // from memory. (A store of the layout that wrote every version's pages keeps some pages
        // of its last versions before the change, up to 63 of them, for good: once.)
        let on_disk_through = checkpoint_at_or_below(height - 1);
        let stale_on_disk: Vec<&PageKey> = execution
            .tree
            .stale_pages
            .iter()
            .filter(|key| key.version <= on_disk_through)
            .collect();
        if !stale_on_disk.is_empty() {
            // One record per version, not one per page: a block makes thousands of pages stale,
            // and every record is a memtable insert on the commit path.
            let mut key = Vec::with_capacity(64);
            let mut stale = Vec::with_capacity(stale_on_disk.len() * 16);
            for page_key in stale_on_disk {
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
        let oldest_version = self.prune_into(&mut batch, meta, height, durable)?;
        let next_meta = ChainMeta {
            latest_height: height,
            latest_block_hash: block_hash,
            oldest_version,
            ..meta.clone()
        };
        batch.put_cf(self.cf(CF_META)?, META_CHAIN, encoding::encode(&next_meta));
        Ok((batch, next_meta))
    }

    /// Records what the committed block at `height` implies for the derived families, as a
    /// commit does; the rebuild on opening does so for the heights a crash took.
    fn write_version_derived(
        &self,
        height: u64,
        new_pages: Vec<NewPage>,
        stale_pages: &[PageKey],
        accounts: &[(Address, Account)],
        receipts: &[Receipt],
    ) -> Result<(), LedgerError> {
        if height.is_multiple_of(TREE_CHECKPOINT_INTERVAL) {
            return self.write_checkpoint_derived(
                height,
                new_pages,
                stale_pages,
                accounts,
                receipts,
            );
        }
        self.record_derived(height, new_pages, stale_pages, accounts, receipts);
        Ok(())
    }

    /// Takes the committed block at `height`'s pages, accounts and receipts in among the
    /// unwritten ones.
    fn record_derived(
        &self,
        height: u64,
        new_pages: Vec<NewPage>,
        stale_pages: &[PageKey],
        accounts: &[(Address, Account)],
        receipts: &[Receipt],
    ) {
        let on_disk_through = checkpoint_at_or_below(height.saturating_sub(1));
        self.unwritten
            .record(new_pages, stale_pages, on_disk_through);
        self.unwritten_accounts
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .record(accounts);
        self.unwritten_receipts
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .record(receipts);
    }

    /// Writes what the committed checkpoint at `height` implies for the derived families: its
    /// tree pages, accounts and receipts join the unwritten ones, and a writer takes the pages
    /// its tree uses, the latest value of every account changed since the last checkpoint, and
    /// the receipts of the blocks since.
    fn write_checkpoint_derived(
        &self,
        height: u64,
        new_pages: Vec<NewPage>,
        stale_pages: &[PageKey],
        accounts: &[(Address, Account)],
        receipts: &[Receipt],
    ) -> Result<(), LedgerError> {
        // The checkpoint before was written long ago, 64 blocks back.
        self.finish_checkpoint()?;
        self.record_derived(height, new_pages, stale_pages, accounts, receipts);
        let live = self.unwritten.live();
        let accounts = self
            .unwritten_accounts
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .begin_checkpoint();
        let receipts = self
            .unwritten_receipts
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .begin_checkpoint();
        self.spawn_checkpoint_writer(
            height,
            Checkpoint {
                pages: live,
                accounts,
                receipts,
            },
        )
    }

    /// Writes a checkpoint's pages, accounts and receipts on a thread of its own, behind the
    /// blocks that follow: about 72,000 pages, 480,000 accounts and 640,000 receipts at a
    /// million accounts under full load, some 500 ms of work that the commit would otherwise
    /// wait for, once every 64 blocks.
    /// Until they are written, readers find them in memory; a crash before the marks land
    /// leaves the store at the checkpoint before, as for any derived record.
    fn spawn_checkpoint_writer(
        &self,
        height: u64,
        checkpoint: Checkpoint,
    ) -> Result<(), LedgerError> {
        let db = Arc::clone(&self.db);
        let unwritten = Arc::clone(&self.unwritten);
        let unwritten_accounts = Arc::clone(&self.unwritten_accounts);
        let unwritten_receipts = Arc::clone(&self.unwritten_receipts);
        let needs_reopen = Arc::clone(&self.needs_reopen);
        let writer = std::thread::Builder::new()
            .name("cairn-checkpoint".into())
            .spawn(move || {
                let written = write_checkpoint(&db, height, checkpoint);
                match &written {
                    Ok(()) => {
                        // Only now: until RocksDB holds them, readers find them in memory.
                        unwritten.checkpoint_written(height);
                        unwritten_accounts
                            .write()
                            .unwrap_or_else(PoisonError::into_inner)
                            .checkpoint_written();
                        unwritten_receipts
                            .write()
                            .unwrap_or_else(PoisonError::into_inner)
                            .checkpoint_written();
                    }
                    Err(_) => needs_reopen.store(true, Ordering::SeqCst),
                }
                written
            })
            .map_err(|error| LedgerError::Corrupt {
                reason: format!("cannot start the checkpoint writer: {error}"),
            })?;
        *self
            .checkpoint_writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(writer);
        Ok(())
    }

    /// Waits for the last checkpoint's pages and accounts to be written, if they are not yet.
    fn finish_checkpoint(&self) -> Result<(), LedgerError> {
        let writer = self
            .checkpoint_writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match writer.map(JoinHandle::join) {
            None => Ok(()),
            Some(Ok(written)) => written,
            Some(Err(_)) => {
                self.needs_reopen.store(true, Ordering::SeqCst);
                Err(LedgerError::Corrupt {
                    reason: "the checkpoint writer panicked".into(),
                })
            }
        }
    }

    /// Writes a height's flat accounts (the latest of each through `height`) and receipts, those
    /// that are given, straight to their families, without the log, in batches that RocksDB
    /// inserts side by side, one core each; then each family's height mark, once all of its
    /// records are in. Only the rebuild on opening writes them so: commits leave them to the
    /// checkpoints.
    fn write_derived(
        &self,
        height: u64,
        accounts: Option<&[(Address, Account)]>,
        receipts: Option<&[Receipt]>,
    ) -> Result<(), LedgerError> {
        let mut unlogged = WriteOptions::default();
        unlogged.disable_wal(true);
        // In key order, each insert into a memtable's skip list starts where the last ended.
        let receipt_order: Option<Vec<&Receipt>> = receipts.map(|receipts| {
            let mut order: Vec<&Receipt> = receipts.iter().collect();
            order.sort_unstable_by_key(|receipt| receipt.tx_hash);
            order
        });
        let mut parts: Vec<DerivedPart<'_>> = Vec::new();
        parts.extend(receipt_order.as_deref().map(DerivedPart::Receipts));
        parts.extend(accounts.map(DerivedPart::Accounts));
        parts.into_par_iter().try_for_each(|part| {
            let batch = derived_batch(&self.db, part)?;
            Ok::<_, LedgerError>(self.db.write_opt(batch, &unlogged)?)
        })?;
        let mut markers = WriteBatch::default();
        if accounts.is_some() {
            markers.put_cf(self.cf(CF_ACCOUNTS)?, DERIVED_HEIGHT, height.to_be_bytes());
        }
        if receipts.is_some() {
            markers.put_cf(self.cf(CF_TX_INDEX)?, DERIVED_HEIGHT, height.to_be_bytes());
        }
        Ok(self.db.write_opt(markers, &unlogged)?)
    }
}

impl Drop for LedgerStore {
    /// Lets the checkpoint writer finish: it shares the database, which must be closed once
    /// the store is gone, so the same directory can be opened again at once.
    fn drop(&mut self) {
        // A checkpoint that failed to write is rebuilt by the next open, as after a crash.
        let _ = self.finish_checkpoint();
    }
}

/// What a commit's derived records stand at once its batch is synced: recorded ahead, or, for a
/// checkpoint, not yet.
enum Recorded {
    Ahead(RecordedAhead),
    AtCheckpoint(Vec<NewPage>),
}

/// What [`LedgerStore::record_ahead`] left to finish once a block's batch is synced, or to take
/// back should it fail.
struct RecordedAhead {
    accounts: AccountsUndo,
    receipts: Vec<Receipt>,
}

/// What a checkpoint writes: the pages its tree uses, the latest value of every account changed
/// since the last one, and the receipts of the blocks since.
struct Checkpoint {
    pages: Vec<NewPage>,
    accounts: Arc<AccountMap>,
    receipts: Arc<BlockReceipts>,
}

/// Writes a checkpoint without the log, in batches of a few hundred kilobytes so that a
/// commit's batch, which RocksDB may write in one group with one of them, never waits long; then
/// their marks.
fn write_checkpoint(db: &DB, height: u64, checkpoint: Checkpoint) -> Result<(), LedgerError> {
    const PAGES_PER_BATCH: usize = 1024;
    const RECORDS_PER_BATCH: usize = 4096;
    let Checkpoint {
        mut pages,
        accounts,
        receipts,
    } = checkpoint;
    unwritten_pages::sort_for_writing(&mut pages);
    let mut unlogged = WriteOptions::default();
    unlogged.disable_wal(true);
    let accounts = unwritten_accounts::sorted(&accounts);
    let receipts = unwritten_receipts::sorted(&receipts);
    let parts = pages
        .chunks(PAGES_PER_BATCH)
        .map(DerivedPart::Pages)
        .chain(
            accounts
                .chunks(RECORDS_PER_BATCH)
                .map(DerivedPart::Accounts),
        )
        .chain(
            receipts
                .chunks(RECORDS_PER_BATCH)
                .map(DerivedPart::Receipts),
        );
    for part in parts {
        db.write_opt(derived_batch(db, part)?, &unlogged)?;
    }
    let mut markers = WriteBatch::default();
    markers.put_cf(cf(db, CF_TREE_PAGES)?, page_mark(height), []);
    markers.put_cf(cf(db, CF_ACCOUNTS)?, DERIVED_HEIGHT, height.to_be_bytes());
    markers.put_cf(cf(db, CF_TX_INDEX)?, DERIVED_HEIGHT, height.to_be_bytes());
    Ok(db.write_opt(markers, &unlogged)?)
}

fn derived_batch(db: &DB, part: DerivedPart<'_>) -> Result<WriteBatch, LedgerError> {
    let mut key = Vec::with_capacity(64);
    let mut value = Vec::with_capacity(256);
    let batch = match part {
        DerivedPart::Pages(pages) => {
            let tree_pages = cf(db, CF_TREE_PAGES)?;
            let reserve = pages
                .iter()
                .map(|written| written.page.bytes().len() + BATCH_RECORD_OVERHEAD)
                .sum();
            let mut batch = WriteBatch::with_capacity_bytes(reserve);
            for written in pages {
                written.key.encode_into(&mut key);
                batch.put_cf(tree_pages, &key, written.page.bytes());
            }
            batch
        }
        DerivedPart::Accounts(accounts) => {
            let cf = cf(db, CF_ACCOUNTS)?;
            let mut batch = WriteBatch::with_capacity_bytes(
                accounts.len() * (BATCH_RECORD_OVERHEAD + MAX_SMALL_RECORD),
            );
            for (address, account) in accounts {
                encoding::encode_into(account, &mut value);
                batch.put_cf(cf, address.0, &value);
            }
            batch
        }
        DerivedPart::Receipts(receipts) => {
            let cf = cf(db, CF_TX_INDEX)?;
            let mut batch = WriteBatch::with_capacity_bytes(
                receipts.len() * (BATCH_RECORD_OVERHEAD + MAX_SMALL_RECORD),
            );
            for receipt in receipts {
                encoding::encode_into(*receipt, &mut value);
                batch.put_cf(cf, receipt.tx_hash.0, &value);
            }
            batch
        }
    };
    Ok(batch)
}

impl LedgerStore {
    /// Rebuilds, on opening, the derived records a crash took: for each derived family, the
    /// heights after its marker, up to the latest (see the module's notes).
    fn rebuild_derived(&self) -> Result<(), LedgerError> {
        let Some(meta) = self.meta() else {
            return Ok(());
        };
        let latest = meta.latest_height;
        let changes_cf = self.cf(CF_CHANGES)?;
        let first_change = self
            .db
            .iterator_cf(changes_cf, IteratorMode::Start)
            .next()
            .transpose()?
            .map(|(key, _)| decode_height(Some(&key)))
            .transpose()?
            .flatten();
        self.changes_from
            .store(first_change.unwrap_or(latest + 1), Ordering::SeqCst);
        let mut held = [0u64; 3];
        let mut unmarked = false;
        for (family, held) in MARKED_CFS.iter().zip(&mut held[1..]) {
            let marker = self.db.get_cf(self.cf(family)?, DERIVED_HEIGHT)?;
            // A store of an earlier layout has no marks: it logged everything.
            *held = match decode_height(marker.as_deref())? {
                Some(height) => height,
                None => {
                    unmarked = true;
                    latest
                }
            };
        }
        held[0] = if unmarked {
            latest
        } else {
            self.pages_held_on_opening(&meta)?
        };
        let [pages_held, accounts_held, receipts_held] = held;
        let from = held
            .iter()
            .min()
            .copied()
            .unwrap_or(latest)
            .saturating_add(1);
        for height in from..=latest {
            let changes = self.changes(height)?;
            let accounts = (height > accounts_held).then_some(&changes[..]);
            let mut receipts = Vec::new();
            if height > receipts_held {
                let block = self.block(height)?.ok_or_else(|| LedgerError::Corrupt {
                    reason: format!("block {height} is missing"),
                })?;
                receipts = block_receipts(&block)?;
            }
            if height > pages_held {
                // The accounts join the unwritten ones, as at a commit: heights rise, so none
                // of them is older than what this loop wrote to the table directly.
                let update = self.replay_tree(height, &changes, self)?;
                self.write_version_derived(
                    height,
                    update.new_pages,
                    &update.stale_pages,
                    accounts.unwrap_or_default(),
                    &receipts,
                )?;
            } else {
                let receipts = (height > receipts_held).then_some(&receipts[..]);
                self.write_derived(height, accounts, receipts)?;
            }
        }
        if unmarked {
            let mut markers = WriteBatch::default();
            for family in MARKED_CFS {
                markers.put_cf(self.cf(family)?, DERIVED_HEIGHT, latest.to_be_bytes());
            }
            markers.put_cf(self.cf(CF_TREE_PAGES)?, page_mark(latest), []);
            self.write_synced(markers)?;
        }
        self.pages_durable.store(held[0], Ordering::SeqCst);
        if from <= latest {
            // From here on, a crash has nothing of this to rebuild again.
            self.flush_derived(true)?;
        }
        Ok(())
    }

    /// The accounts the block at `height` changed, as its commit recorded them.
    fn changes(&self, height: u64) -> Result<ChangedAccounts, LedgerError> {
        match self.db.get_cf(self.cf(CF_CHANGES)?, height.to_be_bytes())? {
            Some(bytes) => encoding::decode("changed accounts", &bytes),
            None => Err(LedgerError::Corrupt {
                reason: format!("the accounts height {height} changed are gone"),
            }),
        }
    }

    /// Applies the accounts `height` changed to the tree before it, read through `pages`, and
    /// checks that this gives the root the block committed.
    fn replay_tree<S: PageSource>(
        &self,
        height: u64,
        changes: &[(Address, Account)],
        pages: &S,
    ) -> Result<TreeUpdate, LedgerError> {
        let tree_changes = changes
            .iter()
            .map(|(address, account)| (address.state_key(), Some(encoding::encode(account))))
            .collect();
        let before = self.tree_root(height.saturating_sub(1))?;
        let update = SparseMerkleTree::new(pages).apply(before, height, tree_changes)?;
        if update.root != self.tree_root(height)? {
            return Err(LedgerError::Corrupt {
                reason: format!("replaying the tree at height {height} gives another root"),
            });
        }
        Ok(update)
    }

    /// Reads the tree at `version`, whose root is `root`, with `read`. The latest version, the one
    /// before it and the checkpoints are whole in the store; another version's pages are
    /// replayed from the checkpoint below it, since those that a later version replaced before
    /// the next checkpoint were never written.
    ///
    /// One replay is kept, and one runs at a time: a wallet proving several accounts at one
    /// height, or following the chain up, replays each block once, and requests for old heights
    /// cost one replay's memory (the pages its versions still use), not one each.
    fn read_tree<T>(
        &self,
        version: u64,
        root: ChildRef,
        read: impl Fn(&VersionPages<'_>, ChildRef) -> Result<T, LedgerError>,
    ) -> Result<T, LedgerError> {
        let meta = self.require_meta()?;
        let checkpoint = checkpoint_at_or_below(version).max(meta.oldest_version);
        let whole = VersionPages {
            store: self,
            replayed: None,
        };
        if version == checkpoint {
            return read(&whole, root);
        }
        if version + 1 >= meta.latest_height {
            // Commits since may have let go of pages this version used: then it is replayed.
            if let Ok(answer) = read(&whole, root.clone()) {
                return Ok(answer);
            }
        }
        let mut replay = self.replay.lock().unwrap_or_else(PoisonError::into_inner);
        // A replay that stopped between the checkpoint and this version goes on from there.
        if !(checkpoint < replay.version && replay.version <= version) {
            *replay = Replay {
                version: checkpoint,
                pages: UnwrittenPages::default(),
            };
        }
        for height in replay.version + 1..=version {
            let update = self.replay_tree(
                height,
                &self.changes(height)?,
                &VersionPages {
                    store: self,
                    replayed: Some(&replay.pages),
                },
            )?;
            // As on the commit path, pages a later version replaced go; any version's may be
            // held here, whatever checkpoint the replay began from.
            replay
                .pages
                .record(update.new_pages, &update.stale_pages, 0);
            replay.version = height;
        }
        read(
            &VersionPages {
                store: self,
                replayed: Some(&replay.pages),
            },
            root,
        )
    }

    /// Adds to `batch` the deletion of every tree version older than the retention window allows
    /// once `height` is committed; returns the oldest version kept.
    fn prune_into(
        &self,
        batch: &mut WriteBatch,
        meta: &ChainMeta,
        height: u64,
        durable: u64,
    ) -> Result<u64, LedgerError> {
        // Rebuilding a height's pages after a crash starts from the tree before it.
        // The oldest kept version must be whole, to replay the versions after it from: a
        // checkpoint.
        let oldest_kept = checkpoint_at_or_below(
            (height + 1)
                .saturating_sub(self.config.retained_versions)
                .min(durable),
        )
        .max(meta.oldest_version);
        if oldest_kept == meta.oldest_version {
            return Ok(oldest_kept);
        }
        // Replaying a kept version needs the `changes` of every height after the oldest kept.
        let changes_cf = self.cf(CF_CHANGES)?;
        for changed_at in self.changes_from.load(Ordering::SeqCst)..=oldest_kept {
            batch.delete_cf(changes_cf, changed_at.to_be_bytes());
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
            batch.delete_cf(self.cf(CF_TREE_PAGES)?, page_mark(version));
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
        let key = address.state_key();
        let proof = self.read_tree(height, root, |pages, root| {
            SparseMerkleTree::new(pages).prove(root, &key)
        })?;
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
        // Memory first: a checkpoint's receipts leave it only once RocksDB holds them.
        let unwritten = self
            .unwritten_receipts
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(tx_hash);
        let receipt = match unwritten {
            Some(receipt) => Some(receipt),
            None => self
                .db
                .get_cf(self.cf(CF_TX_INDEX)?, tx_hash.0)?
                .map(|bytes| encoding::decode("receipt", &bytes))
                .transpose()?,
        };
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
        self.read_tree(version, root, |pages, root| {
            SparseMerkleTree::new(pages).leaves(root)
        })?
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
            let (key, _) = entry?;
            if !is_page_mark(&key) {
                count += 1;
            }
        }
        Ok(count)
    }

    /// The version of the newest stored tree page, if any: never above the latest height once
    /// the store is open (for audits and tests).
    pub fn newest_page_version(&self) -> Result<Option<u64>, LedgerError> {
        for entry in self
            .db
            .iterator_cf(self.cf(CF_TREE_PAGES)?, IteratorMode::End)
        {
            let (key, _) = entry?;
            if !is_page_mark(&key) {
                return Ok(Some(PageKey::decode(&key)?.version));
            }
        }
        Ok(None)
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
        self.finish_checkpoint()?;
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

/// One batch of derived records: a share of a checkpoint's pages, accounts or receipts, in key
/// order.
enum DerivedPart<'a> {
    Pages(&'a [NewPage]),
    Accounts(&'a [(Address, Account)]),
    Receipts(&'a [&'a Receipt]),
}

/// The receipts of a committed block, as executing it gave them: every transaction of a
/// committed block succeeded, so they follow from the block alone.
fn block_receipts(block: &Block) -> Result<Vec<Receipt>, LedgerError> {
    block
        .transactions
        .iter()
        .enumerate()
        .map(|(index, signed)| {
            Receipt::of(
                signed,
                signed.hash(),
                signed.tx.sender(),
                block.header.height,
                index,
            )
        })
        .collect()
}

/// The key of the mark that follows the pages of `version` in `tree_pages`: the version, then a
/// level no page has, so it sorts after them all and before the next version's.
fn page_mark(version: u64) -> [u8; 9] {
    let mut key = [PAGE_MARK_LEVEL; 9];
    key[..8].copy_from_slice(&version.to_be_bytes());
    key
}

fn is_page_mark(key: &[u8]) -> bool {
    key.len() == 9 && key[8] == PAGE_MARK_LEVEL
}

/// A height stored as 8 big-endian bytes, if there is one.
fn decode_height(bytes: Option<&[u8]>) -> Result<Option<u64>, LedgerError> {
    bytes
        .map(|bytes| {
            <[u8; 8]>::try_from(bytes)
                .map(u64::from_be_bytes)
                .map_err(|_| LedgerError::Corrupt {
                    reason: format!("bad height record {}", hex::encode(bytes)),
                })
        })
        .transpose()
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

/// A version of the tree rebuilt in memory from the checkpoint below it: the pages that the
/// versions replayed wrote and that it still uses.
#[derive(Default)]
struct Replay {
    version: u64,
    pages: UnwrittenPages,
}

/// The pages of the tree at one version: the store's, and those of a replay. Replayed pages stay
/// out of the store's cache, which keeps the latest tree's.
struct VersionPages<'a> {
    store: &'a LedgerStore,
    replayed: Option<&'a UnwrittenPages>,
}

impl PageSource for VersionPages<'_> {
    fn page(&self, key: &PageKey, expected: &Hash) -> Result<Page, LedgerError> {
        match self.replayed.and_then(|replayed| replayed.get(key)) {
            Some(page) if page.hash() == *expected => Ok(page),
            _ => self.store.page(key, expected),
        }
    }
}

impl PageSource for LedgerStore {
    fn page(&self, key: &PageKey, expected: &Hash) -> Result<Page, LedgerError> {
        let position = PagePosition::of(key);
        if let Some((_, page)) = self.page_cache.get(&position) {
            if page.hash() == *expected {
                return Ok(page);
            }
        }
        let unwritten = self.unwritten.get(key);
        if let Some(page) = unwritten.filter(|page| page.hash() == *expected) {
            self.page_cache
                .insert_if_newer(position, (key.version, page.clone()));
            return Ok(page);
        }
        let bytes = self
            .db
            .get_pinned_cf(self.cf(CF_TREE_PAGES)?, key.encode())?;
        let page = load_page(bytes.as_deref(), key, expected)?;
        self.page_cache
            .insert_if_newer(position, (key.version, page.clone()));
        Ok(page)
    }

    fn page_written(&self, key: &PageKey, page: &Page) {
        self.page_cache
            .insert(PagePosition::of(key), (key.version, page.clone()));
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
        // Accounts changed since the last checkpoint are not in the table yet. Taken after
        // `committing`: a commit records its accounts here before it lets go of that.
        let unwritten = self
            .unwritten_accounts
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let lookup = |address: &Address| -> Option<Option<Account>> {
            if let Some(committing) = &committing {
                if let Ok(found) =
                    committing.binary_search_by(|(candidate, _)| candidate.cmp(address))
                {
                    return Some(Some(committing[found].1));
                }
            }
            self.account_cache
                .get(address)
                .or_else(|| unwritten.get(address).map(Some))
        };
        // A block's tens of thousands of lookups are each a cache miss or two in memory: on all
        // cores they take half the time.
        let cached: Vec<Option<Option<Account>>> = if addresses.len() > ACCOUNT_READ_CHUNK {
            addresses.par_iter().map(lookup).collect()
        } else {
            addresses.iter().map(lookup).collect()
        };
        drop(unwritten);
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
    use crate::testing::{
        commit_next_block, open_funded_store, test_address, test_key, transfer, TEST_CHAIN_ID,
    };

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
        // What a commit has written by the time its batch is on disk.
        let meta = store.require_meta().unwrap();
        let (batch, _) = store
            .commit_batch(&block, &execution, b"certificate", &meta, 1, 0)
            .unwrap();
        store.write_synced(batch).unwrap();
        let unseen = |store: &LedgerStore| {
            store.block(1).unwrap().is_none()
                && store.block_by_hash(&block.hash()).unwrap().is_none()
                && store.certificate(1).unwrap().is_none()
        };
        assert!(unseen(&store));
        assert_eq!(store.newest_stored_block_height().unwrap(), Some(1));
        assert_eq!(store.latest_height(), Some(0));
        drop(store);

        // The batch holds the metadata too: once it is on disk, the block is committed, and
        // opening the store writes what the commit did not get to: pages, accounts, receipts.
        let store = open();
        assert_eq!(store.latest_height(), Some(1));
        assert!(!unseen(&store));
        assert_eq!(store.block(1).unwrap(), Some(block));
        assert_eq!(
            store.receipt(&execution.tx_hashes[0]).unwrap().as_ref(),
            execution.receipts.first()
        );
        // Its pages are held in memory until a checkpoint writes them.
        assert_eq!(store.newest_page_version().unwrap(), Some(0));
        for (address, account) in &execution.changed_accounts {
            assert_eq!(store.account(address).unwrap(), Some(*account));
            assert_eq!(
                store.account_proof(address, 1).unwrap().account,
                Some(*account)
            );
        }
        let supply: u64 = store
            .tree_accounts(1)
            .unwrap()
            .iter()
            .map(|(_, account)| account.balance)
            .sum();
        assert_eq!(supply, 10 * 1_000);
        // The chain goes on from there.
        let next = vec![transfer(
            &test_key(1),
            TEST_CHAIN_ID,
            1,
            test_address(3),
            5,
            1,
        )];
        commit_next_block(&store, test_address(9), next).unwrap();
        assert_eq!(store.account(&test_address(1)).unwrap().unwrap().nonce, 2);
    }

    #[test]
    fn receipts_follow_from_a_committed_block_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_funded_store(dir.path(), StoreConfig::default(), 20, 1_000).unwrap();
        let transactions: Vec<_> = (0..10)
            .map(|i| transfer(&test_key(i), TEST_CHAIN_ID, 0, test_address(i + 5), 7, i))
            .collect();
        let (block, execution) = store
            .propose_block(
                1,
                test_address(19),
                Hash::ZERO,
                transactions,
                SignaturePolicy::VerifyAll,
            )
            .unwrap();
        assert_eq!(block_receipts(&block).unwrap(), execution.receipts);
    }

    #[test]
    fn the_derived_families_mark_how_far_their_disk_goes() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_funded_store(dir.path(), StoreConfig::default(), 20, 1_000).unwrap();
        let checkpoint = TREE_CHECKPOINT_INTERVAL;
        for nonce in 0..checkpoint + 3 {
            let transactions = vec![transfer(
                &test_key(0),
                TEST_CHAIN_ID,
                nonce,
                test_address(4),
                1,
                1,
            )];
            commit_next_block(&store, test_address(19), transactions).unwrap();
        }
        // The genesis state is on disk whole; what the blocks derived may be in memory only.
        assert!(store.durable_height().unwrap() <= checkpoint);
        store.flush().unwrap();
        // The pages are whole on disk at the checkpoint only; the versions after it are held
        // in memory.
        assert_eq!(store.durable_height().unwrap(), checkpoint);
        assert_eq!(store.newest_page_version().unwrap(), Some(checkpoint));
        assert!(is_page_mark(&page_mark(3)));
        assert!(!is_page_mark(&PageKey::new(3, 0, &Hash::ZERO).encode()));
    }
}
