//! The ledger's one error type.

use crate::{address::Address, hash::Hash};

/// Everything that can go wrong in the ledger, from malformed bytes to a database failure.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("malformed {what}: {reason}")]
    Decode { what: &'static str, reason: String },

    #[error("invalid address {text:?}: {reason}")]
    InvalidAddress { text: String, reason: String },

    #[error("transaction {index} ({tx_hash}) is invalid: {reason}")]
    InvalidTransaction {
        index: usize,
        tx_hash: Hash,
        reason: TxRejection,
    },

    #[error("invalid block at height {height}: {reason}")]
    InvalidBlock { height: u64, reason: String },

    #[error(
        "state root mismatch at height {height}: header says {claimed}, execution gives {computed}"
    )]
    StateRootMismatch {
        height: u64,
        claimed: Hash,
        computed: Hash,
    },

    #[error("height {height} is not the next one (expected {expected})")]
    UnexpectedHeight { height: u64, expected: u64 },

    #[error("state at height {height} is pruned (oldest kept: {oldest_kept})")]
    HeightPruned { height: u64, oldest_kept: u64 },

    #[error("state at height {height} does not exist yet (latest: {latest})")]
    HeightNotCommitted { height: u64, latest: u64 },

    #[error("the store already holds a genesis state")]
    GenesisAlreadyCommitted,

    #[error("the store has no genesis state yet")]
    NoGenesis,

    #[error("genesis is invalid: {reason}")]
    InvalidGenesis { reason: String },

    #[error("total supply overflows with account {address}")]
    SupplyOverflow { address: Address },

    #[error("invalid proof: {reason}")]
    InvalidProof { reason: String },

    #[error("corrupt store: {reason}")]
    Corrupt { reason: String },

    #[error("database error: {0}")]
    Database(#[from] rocksdb::Error),

    #[error("cannot use the database directory {path}: {source}")]
    Directory {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// Why one transaction is refused, by the executor or by a mempool's admission check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxRejection {
    #[error("bad signature")]
    BadSignature,
    #[error("wrong chain id {found:?} (expected {expected:?})")]
    WrongChain { expected: String, found: String },
    #[error("nonce {found} is not the account's next nonce {expected}")]
    BadNonce { expected: u64, found: u64 },
    #[error("balance {balance} does not cover amount {amount} plus fee {fee}")]
    InsufficientBalance { balance: u64, amount: u64, fee: u64 },
    #[error("amount overflows the recipient's balance")]
    BalanceOverflow,
}
