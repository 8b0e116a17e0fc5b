//! The Cairn validator node: everything around the consensus core and the ledger that needs a
//! clock, a disk or a network.
//!
//! Built so far: the mempool ([`mempool`]) and the consensus write-ahead log on disk ([`wal`]).
//! Networking, the consensus driver, block sync and the CLI arrive with the node issue.

#![forbid(unsafe_code)]

pub mod mempool;
pub mod wal;
