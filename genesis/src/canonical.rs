//! The genesis hash and the validator set hash: SHA-256 over a canonical binary encoding.
//!
//! Nodes compare genesis hashes with their peers and the first block's `prev_hash` is the genesis
//! hash, so it must depend on what the genesis *means* and on nothing else: not on whitespace, not
//! on the order of keys in a JSON object, not on `+01:00` versus `Z`, and not on the order in which
//! validators or accounts are listed (the validator set is ordered by key wherever it is used, and
//! the state root does not depend on the order of accounts). So it is computed from the validated
//! values, in the canonical encoding of `docs/encoding.md` (borsh), never from the JSON text.
//!
//! # Genesis hash
//!
//! `SHA-256("cairn/genesis/v1" ‖ body)`, the tag's 16 ASCII bytes with no length in front, then:
//!
//! | field | encoding |
//! |---|---|
//! | `chain_id` | u32 LE length, then its UTF-8 bytes |
//! | `genesis_time` | u64 LE, milliseconds since the Unix epoch |
//! | `initial_height` | u64 LE |
//! | `timeout_propose` | `base_ms` u64 LE, `per_round_ms` u64 LE |
//! | `timeout_prevote` | `base_ms` u64 LE, `per_round_ms` u64 LE |
//! | `timeout_precommit` | `base_ms` u64 LE, `per_round_ms` u64 LE |
//! | `timeout_commit_ms` | u64 LE |
//! | `max_block_bytes` | u64 LE |
//! | `max_block_txs` | u64 LE |
//! | `validators` | u32 LE count, then per validator in ascending order of public key bytes: public key (32 bytes), power (u64 LE), name (u32 LE length, UTF-8 bytes) |
//! | `accounts` | u32 LE count, then per account in ascending order of address bytes: address (20 bytes), balance (u64 LE) |
//!
//! # Validator set hash
//!
//! `SHA-256("cairn/validator-set/v1" ‖ u32 LE count ‖ (public key (32 bytes) ‖ power (u64 LE))*)`
//! with the validators in ascending order of public key bytes, the order the consensus core keeps
//! them in. Names are left out: they are labels, not part of what consensus decides with. This is
//! the `validator_set_hash` of block headers.

use borsh::BorshSerialize;
use cairn_ledger::{encoding, Address, Hash, PublicKey};

use crate::genesis::Genesis;

/// Domain tag in front of the genesis encoding.
pub const GENESIS_HASH_DOMAIN: &[u8] = b"cairn/genesis/v1";

/// Domain tag in front of the validator set encoding.
pub const VALIDATOR_SET_HASH_DOMAIN: &[u8] = b"cairn/validator-set/v1";

#[derive(BorshSerialize)]
struct CanonicalGenesis {
    chain_id: String,
    genesis_time_ms: u64,
    initial_height: u64,
    timeout_propose: CanonicalTimeout,
    timeout_prevote: CanonicalTimeout,
    timeout_precommit: CanonicalTimeout,
    timeout_commit_ms: u64,
    max_block_bytes: u64,
    max_block_txs: u64,
    validators: Vec<CanonicalValidator>,
    accounts: Vec<CanonicalAccount>,
}

#[derive(BorshSerialize)]
struct CanonicalTimeout {
    base_ms: u64,
    per_round_ms: u64,
}

#[derive(BorshSerialize)]
struct CanonicalValidator {
    public_key: PublicKey,
    power: u64,
    name: String,
}

#[derive(BorshSerialize)]
struct CanonicalAccount {
    address: Address,
    balance: u64,
}

/// The bytes the genesis hash is taken over (after the domain tag).
pub(crate) fn genesis_encoding(genesis: &Genesis) -> Vec<u8> {
    let params = genesis.consensus();
    let timeout = |timeout: &crate::Timeout| CanonicalTimeout {
        base_ms: timeout.base_ms,
        per_round_ms: timeout.per_round_ms,
    };
    let mut validators: Vec<CanonicalValidator> = genesis
        .validators()
        .iter()
        .map(|validator| CanonicalValidator {
            public_key: validator.public_key,
            power: validator.power,
            name: validator.name.clone(),
        })
        .collect();
    validators.sort_by_key(|validator| validator.public_key);
    let mut accounts: Vec<CanonicalAccount> = genesis
        .funded_accounts()
        .iter()
        .map(|account| CanonicalAccount {
            address: account.address,
            balance: account.balance,
        })
        .collect();
    accounts.sort_by_key(|account| account.address);
    encoding::encode(&CanonicalGenesis {
        chain_id: genesis.chain_id().to_owned(),
        genesis_time_ms: genesis.genesis_time_ms(),
        initial_height: genesis.initial_height(),
        timeout_propose: timeout(&params.timeout_propose),
        timeout_prevote: timeout(&params.timeout_prevote),
        timeout_precommit: timeout(&params.timeout_precommit),
        timeout_commit_ms: params.timeout_commit_ms,
        max_block_bytes: params.max_block_bytes,
        max_block_txs: params.max_block_txs,
        validators,
        accounts,
    })
}

/// The genesis hash of a validated genesis.
pub(crate) fn genesis_hash(genesis: &Genesis) -> Hash {
    Hash::digest_parts(&[GENESIS_HASH_DOMAIN, &genesis_encoding(genesis)])
}

/// The hash of a validator set given as (public key, voting power) pairs in any order; see the
/// module documentation for the layout.
pub fn validator_set_hash(validators: &[(PublicKey, u64)]) -> Hash {
    let mut sorted = validators.to_vec();
    // Whole pairs, so that even a list with a repeated key hashes the same in any order.
    sorted.sort_unstable();
    Hash::digest_parts(&[VALIDATOR_SET_HASH_DOMAIN, &encoding::encode(&sorted)])
}
