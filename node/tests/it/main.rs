#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! Integration tests of the node, in one binary.
//!
//! - `mempool`: admission, ordering, limits and rechecks of the mempool against a real store.
//! - `wal`: the consensus write-ahead log on disk.
//! - `wallet`: `cairn wallet`'s key derivation, keystore, arguments and answer verification.
//! - `wire`: the bytes peers exchange.
//! - `config`: `config.toml`.

mod config;
mod evidence;
mod mempool;
mod wal;
mod wallet;
mod wire;
