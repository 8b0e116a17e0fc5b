//! Helpers for tests and benchmarks: deterministic keys, signed transfers and funded chains.

use std::path::Path;

use crate::{
    account::Account,
    address::Address,
    block::Block,
    crypto::SecretKey,
    error::LedgerError,
    execute::SignaturePolicy,
    hash::Hash,
    store::{LedgerStore, StoreConfig},
    tx::{Payload, SignedTransaction, Transaction},
};

pub const TEST_CHAIN_ID: &str = "cairn-test";

/// The `index`-th deterministic test key.
pub fn test_key(index: u64) -> SecretKey {
    SecretKey::from_seed(Hash::digest_parts(&[b"cairn/test-key", &index.to_le_bytes()]).0)
}

pub fn test_address(index: u64) -> Address {
    Address::from_public_key(&test_key(index).public_key())
}

/// A signed transfer on `chain_id`.
pub fn transfer(
    key: &SecretKey,
    chain_id: &str,
    nonce: u64,
    to: Address,
    amount: u64,
    fee: u64,
) -> SignedTransaction {
    Transaction {
        chain_id: chain_id.into(),
        signer: key.public_key(),
        nonce,
        fee,
        payload: Payload::Transfer { to, amount },
    }
    .sign(key)
}

/// Opens a store in `path` and, if it is new, commits a genesis funding test accounts
/// `0..accounts` with `balance` each.
pub fn open_funded_store(
    path: &Path,
    config: StoreConfig,
    accounts: u64,
    balance: u64,
) -> Result<LedgerStore, LedgerError> {
    let store = LedgerStore::open(path, config)?;
    if store.latest_height().is_none() {
        let funded: Vec<(Address, Account)> = (0..accounts)
            .map(|index| (test_address(index), Account { balance, nonce: 0 }))
            .collect();
        store.commit_genesis(TEST_CHAIN_ID, Hash::digest(b"cairn-test-genesis"), &funded)?;
    }
    Ok(store)
}

/// Proposes, executes and commits the next block of `transactions`, with a dummy certificate.
pub fn commit_next_block(
    store: &LedgerStore,
    proposer: Address,
    transactions: Vec<SignedTransaction>,
) -> Result<Block, LedgerError> {
    let height = store.latest_height().ok_or(LedgerError::NoGenesis)? + 1;
    let (block, mut execution) = store.propose_block(
        height,
        proposer,
        Hash::ZERO,
        transactions,
        SignaturePolicy::VerifyAll,
    )?;
    store.commit_block(&block, &mut execution, b"test-certificate")?;
    Ok(block)
}
