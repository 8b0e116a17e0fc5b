//! Cairn's JSON-RPC API: the jsonrpsee traits, the server and a typed client.
//!
//! It owns:
//! - the API, one `#[rpc]` trait per namespace ([`api`]): `node`, `chain`, `state`, `tx`,
//!   `mempool`, and `rpc.discover`; the macro derives from each both the server side and a typed
//!   client (`NodeApiClient`, `ChainApiClient`, …) for jsonrpsee's `HttpClient` and `WsClient`;
//! - the JSON shapes of ledger values ([`types`], [`format`]) and their conversions back, so a
//!   wallet can check hashes and proofs;
//! - the server ([`start`]): HTTP and WebSocket on one port, with every limit in [`RpcConfig`],
//!   per-IP rate limiting, CORS and `GET /health`;
//! - the error codes, mapped from [`RpcError`] in one place ([`error`]);
//! - the OpenRPC description served by `rpc.discover` ([`openrpc`]).
//!
//! It does not own the node's state: the node implements [`Backend`], a narrow synchronous
//! contract, and this crate only turns its answers into JSON, so it is tested against an
//! in-memory backend with no network or consensus behind it. It holds no keys and signs nothing.

#![forbid(unsafe_code)]

pub mod api;
pub mod backend;
pub mod config;
pub mod error;
pub mod format;
mod handlers;
pub mod openrpc;
mod rate_limit;
mod server;
#[cfg(feature = "test-utils")]
pub mod testing;
pub mod types;

pub use api::{
    ChainApiClient, DiscoverApiClient, MempoolApiClient, NodeApiClient, StateApiClient, TxApiClient,
};
pub use backend::{Backend, BackendError, RejectionKind, SubmitRejection};
pub use config::RpcConfig;
pub use error::{codes, RpcError};
pub use format::{Bech32Address, BlockTag, HexBytes, HexHash};
pub use handlers::rpc_module;
/// The jsonrpsee clients the client traits are implemented for.
pub use jsonrpsee::{
    http_client::{HttpClient, HttpClientBuilder},
    ws_client::{WsClient, WsClientBuilder},
};
pub use server::{start, RpcHandle, HEALTH_PATH};
