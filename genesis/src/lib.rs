//! The genesis file of a Cairn chain: its format, validation, hashing and devnet generation.
//!
//! Not built yet: this crate is a placeholder in the workspace so that the dependency graph is fixed
//! from the start. It will depend on `cairn-ledger` only.
