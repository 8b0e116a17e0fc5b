//! Cairn's ledger: what a transaction and a block are, how a block changes the state, and how that
//! state is committed to so that anyone can check an answer about it.
//!
//! It owns:
//! - the types that go on chain ([`Transaction`], [`SignedTransaction`], [`BlockHeader`], [`Block`],
//!   [`Receipt`], [`Account`], [`Address`]) and their one canonical binary encoding ([`encoding`]);
//! - signatures, with one verification rule for single and batch checks ([`crypto`]);
//! - the state transition ([`execute`]): applying a block to the state;
//! - the authenticated state ([`tree`]): a versioned sparse Merkle tree over the accounts with
//!   inclusion and non-inclusion proofs that a client verifies with no database ([`Proof::verify`]);
//! - the store ([`store`]): blocks, transactions, accounts and tree nodes on RocksDB, committed one
//!   block at a time in one synced write, with the records that follow from it written after.
//!
//! It does not own consensus (the `consensus` crate decides which block comes next), networking,
//! the mempool or the genesis file format; it knows nothing of tokio or libp2p, so every rule here
//! is tested deterministically.

#![forbid(unsafe_code)]

pub mod account;
pub mod address;
pub mod block;
pub mod crypto;
pub mod encoding;
pub mod error;
pub mod execute;
pub mod hash;
mod page_cache;
pub mod store;
#[cfg(any(test, feature = "test-utils"))]
pub mod testing;
pub mod tree;
pub mod tx;
mod unwritten_accounts;
mod unwritten_pages;
mod unwritten_receipts;

pub use account::Account;
pub use address::Address;
pub use block::{Block, BlockHeader, Receipt};
pub use crypto::{PublicKey, SecretKey, Signature};
pub use error::LedgerError;
pub use execute::{BlockExecution, Executor, SignaturePolicy};
pub use hash::Hash;
pub use store::{LedgerStore, StoreConfig};
pub use tree::{Proof, ProofTerminal};
pub use tx::{Payload, SignedTransaction, Transaction};
