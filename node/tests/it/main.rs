#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! Integration tests of the node, in one binary.
//!
//! - `mempool`: admission, ordering, limits and rechecks of the mempool against a real store.
//! - `wal`: the consensus write-ahead log on disk.

mod mempool;
mod wal;
