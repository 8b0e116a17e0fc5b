//! The node library's error type. The binary wraps it in `anyhow` at its edge.

use std::path::PathBuf;

use crate::{mempool::MempoolError, wal::WalError};

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("{path}: {reason}")]
    Config { path: PathBuf, reason: String },

    #[error("genesis: {0}")]
    Genesis(String),

    #[error("key file {path}: {reason}")]
    Key { path: PathBuf, reason: String },

    /// The I/O error is in the message, not a `source`, so that error chains print it once.
    #[error("{action} {path}: {cause}")]
    Io {
        action: &'static str,
        path: PathBuf,
        cause: std::io::Error,
    },

    #[error("ledger: {0}")]
    Ledger(#[from] cairn_ledger::LedgerError),

    #[error("consensus: {0}")]
    Consensus(#[from] cairn_consensus::ConsensusError),

    #[error("write-ahead log: {0}")]
    Wal(#[from] WalError),

    #[error("mempool: {0}")]
    Mempool(#[from] MempoolError),

    #[error("malformed {what}: {reason}")]
    Decode { what: &'static str, reason: String },

    #[error("network: {0}")]
    Network(String),

    #[error("rpc: {0}")]
    Rpc(String),

    #[error("the database belongs to chain {found:?} with genesis {found_hash}, not {expected:?} with genesis {expected_hash}")]
    WrongChain {
        expected: String,
        expected_hash: cairn_ledger::Hash,
        found: String,
        found_hash: cairn_ledger::Hash,
    },

    #[error("a background task failed: {0}")]
    Task(String),
}

impl NodeError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> NodeError {
        let path = path.into();
        move |cause| NodeError::Io {
            action,
            path,
            cause,
        }
    }
}
