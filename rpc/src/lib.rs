//! Cairn's JSON-RPC API: the jsonrpsee traits, the server and a typed client.
//!
//! Not built yet: this crate is a placeholder in the workspace so that the dependency graph is fixed
//! from the start. It will depend on `cairn-ledger` and on the types of `cairn-consensus`.
