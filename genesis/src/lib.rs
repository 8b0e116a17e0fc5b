//! The genesis file of a Cairn chain: its format, its validation, its hash, and devnet generation.
//!
//! It owns:
//! - the `genesis.json` format ([`file`](mod@file)): chain id, genesis time, initial height, consensus
//!   parameters, the validator set and the funded accounts;
//! - validation ([`genesis`]): [`Genesis::from_json`] and [`Genesis::load`] turn text into a
//!   [`Genesis`] only if every rule holds, and otherwise return a [`GenesisError`] that names the
//!   offending field (`validators[2].power: zero voting power`); no input makes them panic;
//! - the genesis hash and the validator set hash ([`canonical`]): SHA-256 over a canonical binary
//!   encoding of the validated values, so whitespace, key order and listing order do not matter,
//!   and every node derives the same hash from the same genesis;
//! - devnet generation ([`devnet`]): keys derived from a seed, a genesis, and the files a devnet
//!   starts from (`genesis.json`, validator key files, `accounts.json`).
//!
//! It does not own the state the genesis leads to (the ledger commits [`Genesis::accounts`] with
//! `LedgerStore::commit_genesis`), the consensus core's validator set (the node builds it from
//! [`Genesis::validators`]), node configuration files, or the command line.
//!
//! # Example `genesis.json`
//!
//! Times are milliseconds; the genesis time is RFC 3339 ([`time`]); balances are decimal strings,
//! so that JSON tools that read numbers as doubles cannot round them.
//!
//! ```
//! # use cairn_genesis::Genesis;
//! let text = r#"{
//!   "chain_id": "cairn-example",
//!   "genesis_time": "2025-01-01T00:00:00Z",
//!   "initial_height": 1,
//!   "consensus": {
//!     "timeout_propose": { "base_ms": 3000, "per_round_ms": 500 },
//!     "timeout_prevote": { "base_ms": 1000, "per_round_ms": 500 },
//!     "timeout_precommit": { "base_ms": 1000, "per_round_ms": 500 },
//!     "timeout_commit_ms": 1000,
//!     "max_block_bytes": 8388608,
//!     "max_block_txs": 10000
//!   },
//!   "validators": [
//!     {
//!       "name": "validator-0",
//!       "public_key": "0x3fed9782d6d33206a1888e6617334012ce6e47e42df0297c409602021e4026d3",
//!       "power": 1
//!     },
//!     {
//!       "name": "validator-1",
//!       "public_key": "0xa40733b0a31c80b08340fa67594372bb3b92b14f95541fafc9396d24f1a9d554",
//!       "power": 1
//!     },
//!     {
//!       "name": "validator-2",
//!       "public_key": "0x8ac6baf299942a3c1e12cfb3ca03ae71f2f4f762c7bb9f7a18caf5db00a3d969",
//!       "power": 1
//!     }
//!   ],
//!   "accounts": [
//!     { "address": "cairn1fv4nwt2meag46s8qyjwd768vtp4d3zz78ldg6j", "balance": "1000000000000" },
//!     { "address": "cairn1msd336lfmzw88cvdxsue0r9zr4xy2j2txq0t3n", "balance": "1000000000000" }
//!   ]
//! }"#;
//! let genesis = Genesis::from_json(text)?;
//! assert_eq!(genesis.total_supply(), 2_000_000_000_000);
//! assert_eq!(
//!     genesis.hash().to_string(),
//!     "0x3717c3468992bcd4d2143684e523c801759a047f814c96f872759038a701f22a"
//! );
//! # Ok::<(), cairn_genesis::GenesisError>(())
//! ```
//!
//! The example is the devnet of [`devnet::generate`] with seed `[7; 32]`, three validators and two
//! accounts.

#![forbid(unsafe_code)]

pub mod canonical;
pub mod devnet;
pub mod error;
pub mod file;
pub mod genesis;
pub mod time;

pub use canonical::validator_set_hash;
pub use devnet::{Devnet, DevnetSpec};
pub use error::GenesisError;
pub use file::{AccountEntry, ConsensusParamsFile, GenesisFile, TimeoutFile, ValidatorEntry};
pub use genesis::{ConsensusParams, FundedAccount, Genesis, Timeout, Validator};
