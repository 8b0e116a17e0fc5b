//! What the server asks of the node. The node implements [`Backend`]; the server turns its answers
//! into JSON. Keeping the contract here lets the server be tested against an in-memory backend.

use std::sync::Arc;

use cairn_ledger::{
    store::AccountProof, Account, Address, Block, BlockHeader, Hash, LedgerError, PublicKey,
    Receipt, Signature,
};
use tokio::sync::broadcast;

/// The node's view of itself, for `node_status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    pub chain_id: String,
    pub genesis_hash: Hash,
    /// The node's libp2p peer id.
    pub node_id: String,
    /// 0 while only genesis is committed.
    pub latest_height: u64,
    /// The genesis hash at height 0.
    pub latest_hash: Hash,
    /// The genesis time at height 0.
    pub latest_time_ms: u64,
    /// True while the node catches up from its peers by block sync.
    pub syncing: bool,
    pub peers: usize,
    /// Set when the node is a validator.
    pub validator_address: Option<Address>,
    pub version: String,
}

/// One precommit of a commit certificate. Every precommit of a certificate votes for the same
/// height, round and block hash, so only the voter and its signature differ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitSignature {
    pub validator: PublicKey,
    pub signature: Signature,
}

/// The commit certificate of a height: precommits from more than 2/3 of the voting power for the
/// block's hash. A client verifies each signature over the consensus crate's vote sign bytes
/// (`cairn_consensus::encoding::vote_sign_bytes`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitInfo {
    pub height: u64,
    pub round: u32,
    pub block_hash: Hash,
    pub precommits: Vec<CommitSignature>,
}

/// A validator as the chain knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorInfo {
    pub name: String,
    pub public_key: PublicKey,
    pub address: Address,
    pub voting_power: u64,
}

/// The validator set that decides a height.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorSetInfo {
    pub height: u64,
    /// The hash blocks of this height carry in `validator_set_hash`.
    pub hash: Hash,
    pub validators: Vec<ValidatorInfo>,
}

/// Where a transaction is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxStatus {
    /// In this node's mempool.
    Pending,
    /// In a committed block.
    Committed(Receipt),
    /// Neither pooled nor committed, as far as this node knows.
    Unknown,
}

/// Mempool size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MempoolInfo {
    pub count: usize,
    pub bytes: usize,
    pub max_count: usize,
    pub max_bytes: usize,
}

/// Why the mempool refused a transaction, in the categories the API documents with error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectionKind {
    /// Not a canonical encoding of a signed transaction, or too large.
    Encoding,
    /// The signature does not verify.
    Signature,
    /// Signed for another chain.
    WrongChain,
    /// The nonce was used already.
    NonceTooLow,
    /// The nonce leaves too wide a gap.
    NonceTooFarAhead,
    /// The balance does not cover amount plus fee (with the sender's pooled transactions).
    InsufficientBalance,
    /// Already in the pool.
    Duplicate,
    /// Same sender and nonce as a pooled transaction, without a high enough fee to replace it.
    Underpriced,
    /// The pool is full of transactions paying at least as much.
    MempoolFull,
    /// The node could not check it (a storage error); nothing is wrong with the transaction.
    Unavailable,
}

/// A refused transaction: the category and the mempool's own words.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SubmitRejection {
    pub kind: RejectionKind,
    pub message: String,
}

/// A failure to answer a read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    #[error("height {height} is not committed yet (latest is {latest})")]
    HeightNotCommitted { height: u64, latest: u64 },
    #[error("height {height} is pruned (oldest kept is {oldest_kept})")]
    HeightPruned { height: u64, oldest_kept: u64 },
    #[error("internal error: {0}")]
    Internal(String),
}

/// The store's answers that a client can act on keep their meaning; the rest is internal.
impl From<LedgerError> for BackendError {
    fn from(error: LedgerError) -> Self {
        match error {
            LedgerError::HeightNotCommitted { height, latest } => {
                BackendError::HeightNotCommitted { height, latest }
            }
            LedgerError::HeightPruned {
                height,
                oldest_kept,
            } => BackendError::HeightPruned {
                height,
                oldest_kept,
            },
            other => BackendError::Internal(other.to_string()),
        }
    }
}

/// A block the node just committed, as announced to subscribers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommittedBlock {
    pub hash: Hash,
    pub header: BlockHeader,
    /// Hashes of the block's transactions, in order.
    pub tx_hashes: Vec<Hash>,
}

/// The node, as the server sees it. Reads are synchronous: they hit RocksDB or memory and return
/// quickly; the server calls them from its async methods directly.
pub trait Backend: Send + Sync + 'static {
    fn node_info(&self) -> NodeInfo;

    /// The block at `height` (1 and up), or `None` when not committed.
    fn block(&self, height: u64) -> Result<Option<Block>, BackendError>;

    fn block_by_hash(&self, hash: &Hash) -> Result<Option<Block>, BackendError>;

    /// The commit certificate of `height`, or `None` when not committed.
    fn commit(&self, height: u64) -> Result<Option<CommitInfo>, BackendError>;

    /// The validator set deciding `height`; `None` for a height beyond the next one.
    fn validators(&self, height: u64) -> Result<Option<ValidatorSetInfo>, BackendError>;

    /// The account at the latest height.
    fn account(&self, address: &Address) -> Result<Option<Account>, BackendError>;

    /// The account with its Merkle proof at `height` (the state after that block; 0 is genesis).
    fn account_proof(&self, address: &Address, height: u64) -> Result<AccountProof, BackendError>;

    /// Admits a transaction (its canonical bytes) to the mempool and gossips it.
    fn submit(&self, tx: &[u8]) -> Result<Hash, SubmitRejection>;

    fn tx_status(&self, hash: &Hash) -> Result<TxStatus, BackendError>;

    fn mempool_info(&self) -> MempoolInfo;

    /// Committed blocks, in height order, from now on. A receiver that lags past the channel's
    /// capacity sees `RecvError::Lagged`.
    fn subscribe_blocks(&self) -> broadcast::Receiver<Arc<CommittedBlock>>;
}
