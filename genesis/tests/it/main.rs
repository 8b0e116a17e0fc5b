//! Integration tests of the genesis crate: one binary, one module per concern.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod devnet;
mod fuzz;
mod hashing;
mod validation;

use cairn_genesis::{
    devnet::derive_key, AccountEntry, ConsensusParams, ConsensusParamsFile, GenesisFile,
    ValidatorEntry,
};
use cairn_ledger::{Address, SecretKey};

/// The `index`-th key of the tests' fixed seed.
pub fn key(index: usize) -> SecretKey {
    derive_key(&[42; 32], b"test", index)
}

pub fn address(index: usize) -> Address {
    Address::from_public_key(&key(index).public_key())
}

/// A valid genesis document: four validators (powers 1 to 4), three accounts.
pub fn valid_file() -> GenesisFile {
    GenesisFile {
        chain_id: "cairn-test".into(),
        genesis_time: "2025-01-01T00:00:00Z".into(),
        initial_height: 1,
        consensus: ConsensusParamsFile::from(&ConsensusParams::default()),
        validators: (0..4)
            .map(|index| ValidatorEntry {
                name: format!("validator-{index}"),
                public_key: key(index).public_key().to_string(),
                power: index as u64 + 1,
            })
            .collect(),
        accounts: (100..103)
            .map(|index| AccountEntry {
                address: address(index).to_string(),
                balance: format!("{}", 1_000_000 * index),
            })
            .collect(),
    }
}

pub fn to_json(file: &GenesisFile) -> String {
    serde_json::to_string_pretty(file).unwrap()
}
