//! Integration tests of the rpc server over real HTTP and WebSocket, against an in-memory backend
//! (`support`), in one binary.
//!
//! - `methods`: every method through the typed client.
//! - `subscriptions`: new heads, transaction watches, limits, a slow subscriber.
//! - `bad_input`: protocol errors, limits, rate limiting, CORS, `/health`, config checks.
//! - `discover`: the OpenRPC document against the registered methods and the JSON written.
//! - `docs_examples`: prints the examples of `docs/rpc.md` (ignored by default).

// Test helpers outside `#[test]` functions fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bad_input;
mod discover;
mod docs_examples;
mod methods;
mod subscriptions;
mod support;
