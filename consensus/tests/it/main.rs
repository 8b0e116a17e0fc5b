//! Integration tests of the consensus core, in one binary.
//!
//! - `rules`: one table-driven test per rule of the paper's Algorithm 1, named after the rule.
//! - `parts`: validator set and proposer selection, encoding, vote keeper, certificates, evidence,
//!   write-ahead-log restoration, bounds.
//! - `properties`: property tests of the invariants.
//! - `sim`: the deterministic simulation of many validators under faults.

// A test binary: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;
mod parts;
mod properties;
mod rules;
mod sim;
