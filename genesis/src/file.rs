//! The JSON shape of `genesis.json`, exactly as written on disk and before any validation.
//!
//! Every object refuses unknown fields and every field is required: a typo must fail loudly rather
//! than leave a parameter at a default that other nodes may not share. Numbers that can exceed
//! 2⁵³ in practice (balances) are decimal strings, because many JSON tools read every number as a
//! double and would silently round them. [`crate::Genesis::from_file`] turns a [`GenesisFile`] into
//! a validated [`crate::Genesis`].

use serde::{Deserialize, Serialize};

/// The whole document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisFile {
    /// 1 to 64 characters of `[a-zA-Z0-9._-]`; part of every signed transaction and vote.
    pub chain_id: String,
    /// RFC 3339 timestamp (see [`crate::time`]); the earliest time of the first block.
    pub genesis_time: String,
    /// Height of the first block after genesis, at least 1.
    pub initial_height: u64,
    /// Consensus parameters every validator must share.
    pub consensus: ConsensusParamsFile,
    /// The initial validator set.
    pub validators: Vec<ValidatorEntry>,
    /// The initially funded accounts.
    pub accounts: Vec<AccountEntry>,
}

/// Timeouts (milliseconds) and block limits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsensusParamsFile {
    pub timeout_propose: TimeoutFile,
    pub timeout_prevote: TimeoutFile,
    pub timeout_precommit: TimeoutFile,
    /// How long to wait after a commit before starting the next height, to collect late
    /// precommits; 0 starts it at once.
    pub timeout_commit_ms: u64,
    /// Largest encoded block, in bytes.
    pub max_block_bytes: u64,
    /// Most transactions in one block.
    pub max_block_txs: u64,
}

/// A timeout that grows with the round: `base_ms + round × per_round_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutFile {
    pub base_ms: u64,
    pub per_round_ms: u64,
}

/// One validator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidatorEntry {
    /// A label for people and logs: 1 to 64 characters, no control characters, unique.
    pub name: String,
    /// The ed25519 public key as `0x` followed by 64 hex digits.
    pub public_key: String,
    /// Voting power, at least 1.
    pub power: u64,
}

/// One funded account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountEntry {
    /// The address in its bech32m text form (`cairn1…`).
    pub address: String,
    /// The balance in the chain's smallest unit, as a decimal string.
    pub balance: String,
}
