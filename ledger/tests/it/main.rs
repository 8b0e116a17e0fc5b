//! Integration tests of the ledger, in one binary to keep link times down.

// Test helpers outside `#[test]` functions fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod crash;
mod encoding;
mod evidence;
mod execution;
mod store;
mod tree;
mod vectors;
