//! The server's settings: where it listens and every limit it enforces.

use std::net::{Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};

/// Port of the default listen address.
pub const DEFAULT_RPC_PORT: u16 = 8545;

/// Settings of the JSON-RPC server. Every field has a default, so the node can embed this struct in
/// its TOML config and a file may name only what it changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RpcConfig {
    /// HTTP and WebSocket share this address; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Largest HTTP request body or WebSocket message accepted, in bytes.
    pub max_request_bytes: u32,
    /// Largest response the server sends, in bytes; a larger one becomes an error.
    pub max_response_bytes: u32,
    /// Most calls in one JSON-RPC batch.
    pub max_batch_size: u32,
    /// Most connections open at once (HTTP and WebSocket together).
    pub max_connections: u32,
    /// Most subscriptions one WebSocket connection may hold.
    pub max_subscriptions_per_connection: u32,
    /// Messages queued for one WebSocket connection before its slowest subscription is dropped.
    pub ws_message_buffer: u32,
    /// Calls per second allowed from one IP address, in the long run; 0 turns the limit off.
    pub rate_limit_per_second: u32,
    /// Calls one IP address may make in a burst above its per-second rate.
    pub rate_limit_burst: u32,
    /// Origins a browser may call from (CORS), e.g. `https://wallet.example`; `*` allows any.
    /// Empty: no CORS headers, so browsers refuse cross-origin calls.
    pub cors_allowed_origins: Vec<String>,
    /// How long `tx_submitAndWait` waits when the caller gives no timeout, in milliseconds.
    pub submit_wait_default_ms: u64,
    /// Longest timeout `tx_submitAndWait` accepts, in milliseconds.
    pub submit_wait_max_ms: u64,
    /// Most `tx_submitAndWait` calls waiting at once, over all connections.
    pub max_pending_waits: u32,
}

impl Default for RpcConfig {
    fn default() -> Self {
        RpcConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_RPC_PORT)),
            max_request_bytes: 1 << 20,
            max_response_bytes: 32 << 20,
            max_batch_size: 100,
            max_connections: 100,
            max_subscriptions_per_connection: 32,
            ws_message_buffer: 256,
            rate_limit_per_second: 100,
            rate_limit_burst: 200,
            cors_allowed_origins: Vec::new(),
            submit_wait_default_ms: 30_000,
            submit_wait_max_ms: 120_000,
            max_pending_waits: 1024,
        }
    }
}
