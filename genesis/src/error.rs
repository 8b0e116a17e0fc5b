//! The crate's one error type.

use std::{io, path::PathBuf};

/// Everything that can make a genesis file unusable, or its files unwritable.
///
/// Every validation error carries `field`, the path of the offending value in the JSON document
/// (`chain_id`, `consensus.timeout_propose.base_ms`, `validators[2].power`, `accounts[0].address`),
/// and its message starts with that path.
#[derive(Debug, thiserror::Error)]
pub enum GenesisError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },

    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },

    #[error("genesis file is {len} bytes, more than the {max} accepted")]
    TooLarge { len: u64, max: u64 },

    /// Not JSON, a value of the wrong type, a missing field, or an unknown one.
    #[error("malformed genesis JSON: {reason}")]
    Json { reason: String },

    #[error("{field}: invalid chain id {chain_id:?}: {reason}")]
    InvalidChainId {
        field: String,
        chain_id: String,
        reason: &'static str,
    },

    #[error("{field}: invalid time {text:?}: {reason}")]
    InvalidTime {
        field: String,
        text: String,
        reason: &'static str,
    },

    #[error("{field}: {value} is outside {min}..={max}")]
    OutOfRange {
        field: String,
        value: u64,
        min: u64,
        max: u64,
    },

    #[error("{field}: empty validator set")]
    NoValidators { field: String },

    #[error("{field}: {count} entries, at most {max} accepted")]
    TooMany {
        field: String,
        count: usize,
        max: usize,
    },

    #[error("{field}: zero voting power")]
    ZeroVotingPower { field: String },

    #[error("{field}: total voting power exceeds {max}")]
    TotalVotingPowerTooLarge { field: String, max: u64 },

    #[error("{field}: invalid public key {text:?}: {reason}")]
    InvalidPublicKey {
        field: String,
        text: String,
        reason: &'static str,
    },

    #[error("{field}: duplicate validator key, already at validators[{first}]")]
    DuplicateValidator { field: String, first: usize },

    #[error("{field}: invalid validator name {name:?}: {reason}")]
    InvalidName {
        field: String,
        name: String,
        reason: &'static str,
    },

    #[error("{field}: duplicate validator name, already at validators[{first}]")]
    DuplicateName { field: String, first: usize },

    #[error("{field}: invalid address {text:?}: {reason}")]
    InvalidAddress {
        field: String,
        text: String,
        reason: String,
    },

    #[error("{field}: duplicate account, already at accounts[{first}]")]
    DuplicateAccount { field: String, first: usize },

    #[error("{field}: invalid balance {text:?}: {reason}")]
    InvalidBalance {
        field: String,
        text: String,
        reason: &'static str,
    },

    #[error("{field}: total supply overflows u64")]
    SupplyOverflow { field: String },

    #[error("{path}: invalid key file: {reason}")]
    InvalidKeyFile { path: PathBuf, reason: String },

    #[error("cannot gather randomness for devnet keys: {source}")]
    Randomness { source: io::Error },
}

impl GenesisError {
    /// The JSON path of the offending value, for validation errors.
    pub fn field(&self) -> Option<&str> {
        match self {
            GenesisError::InvalidChainId { field, .. }
            | GenesisError::InvalidTime { field, .. }
            | GenesisError::OutOfRange { field, .. }
            | GenesisError::NoValidators { field }
            | GenesisError::TooMany { field, .. }
            | GenesisError::ZeroVotingPower { field }
            | GenesisError::TotalVotingPowerTooLarge { field, .. }
            | GenesisError::InvalidPublicKey { field, .. }
            | GenesisError::DuplicateValidator { field, .. }
            | GenesisError::InvalidName { field, .. }
            | GenesisError::DuplicateName { field, .. }
            | GenesisError::InvalidAddress { field, .. }
            | GenesisError::DuplicateAccount { field, .. }
            | GenesisError::InvalidBalance { field, .. }
            | GenesisError::SupplyOverflow { field } => Some(field),
            GenesisError::Read { .. }
            | GenesisError::Write { .. }
            | GenesisError::TooLarge { .. }
            | GenesisError::Json { .. }
            | GenesisError::InvalidKeyFile { .. }
            | GenesisError::Randomness { .. } => None,
        }
    }
}
