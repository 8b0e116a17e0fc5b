//! The crate's one error type, the API's error codes, and the one place errors become JSON-RPC
//! error objects ([`From<RpcError> for ErrorObjectOwned`](RpcError)).
//!
//! # Codes
//!
//! | code | meaning | `data` |
//! |---|---|---|
//! | -32700 | parse error: the body is not JSON | |
//! | -32600 | invalid request: JSON, but not a JSON-RPC request | |
//! | -32601 | method not found | |
//! | -32602 | invalid params: wrong count, type or format (hex, address, timeout) | |
//! | -32603 | internal error: the node failed to answer | |
//! | -32006 | too many subscriptions on this connection (jsonrpsee) | |
//! | -32007 | request too large (jsonrpsee) | |
//! | -32008 | response too large (jsonrpsee) | |
//! | -32009 | server busy: too many calls waiting | `{"limit"}` |
//! | -32010 | batch too large (jsonrpsee) | |
//! | -32020 | rate limited | `{"perSecond","burst"}` |
//! | -32021 | subscription dropped: the subscriber fell behind | `{"reason"}` |
//! | -32030 | timed out waiting for a commit | `{"txHash","waitedMs"}` |
//! | -32040 | height not committed yet | `{"height","latest"}` |
//! | -32041 | height pruned | `{"height","oldestKept"}` |
//! | -32042 | not found | `{"what"}` |
//! | -32050..=-32059 | transaction rejected, one code per [`RejectionKind`] | `{"kind"}` |
//!
//! -32000 to -32011 are left to jsonrpsee's transport limits; Cairn's own codes start at -32020 so
//! the two never collide.

use std::net::SocketAddr;

use cairn_ledger::Hash;
use jsonrpsee::{core::RegisterMethodError, types::ErrorObjectOwned};
use serde_json::json;

use crate::backend::{BackendError, RejectionKind, SubmitRejection};

/// The API's error codes; the module documentation has the table.
pub mod codes {
    pub const PARSE_ERROR: i32 = -32700;
    pub const INVALID_REQUEST: i32 = -32600;
    pub const METHOD_NOT_FOUND: i32 = -32601;
    pub const INVALID_PARAMS: i32 = -32602;
    pub const INTERNAL_ERROR: i32 = -32603;

    /// jsonrpsee's: the connection holds its maximum of subscriptions.
    pub const TOO_MANY_SUBSCRIPTIONS: i32 = -32006;
    /// jsonrpsee's: the request body or message exceeds `max_request_bytes`.
    pub const OVERSIZED_REQUEST: i32 = -32007;
    /// jsonrpsee's: the response exceeds `max_response_bytes`.
    pub const OVERSIZED_RESPONSE: i32 = -32008;
    /// Too many calls are waiting (`max_pending_waits`); the same code jsonrpsee uses.
    pub const SERVER_BUSY: i32 = -32009;
    /// jsonrpsee's: the batch holds more than `max_batch_size` calls.
    pub const BATCH_TOO_LARGE: i32 = -32010;

    pub const RATE_LIMITED: i32 = -32020;
    pub const SUBSCRIBER_TOO_SLOW: i32 = -32021;
    pub const TIMEOUT: i32 = -32030;
    pub const HEIGHT_NOT_COMMITTED: i32 = -32040;
    pub const HEIGHT_PRUNED: i32 = -32041;
    pub const NOT_FOUND: i32 = -32042;

    pub const TX_ENCODING: i32 = -32050;
    pub const TX_SIGNATURE: i32 = -32051;
    pub const TX_WRONG_CHAIN: i32 = -32052;
    pub const TX_NONCE_TOO_LOW: i32 = -32053;
    pub const TX_NONCE_TOO_FAR_AHEAD: i32 = -32054;
    pub const TX_INSUFFICIENT_BALANCE: i32 = -32055;
    pub const TX_DUPLICATE: i32 = -32056;
    pub const TX_UNDERPRICED: i32 = -32057;
    pub const TX_MEMPOOL_FULL: i32 = -32058;
    pub const TX_UNAVAILABLE: i32 = -32059;
}

/// Every rejection kind, in code order.
pub const REJECTION_KINDS: [RejectionKind; 10] = [
    RejectionKind::Encoding,
    RejectionKind::Signature,
    RejectionKind::WrongChain,
    RejectionKind::NonceTooLow,
    RejectionKind::NonceTooFarAhead,
    RejectionKind::InsufficientBalance,
    RejectionKind::Duplicate,
    RejectionKind::Underpriced,
    RejectionKind::MempoolFull,
    RejectionKind::Unavailable,
];

/// The error code of a rejected transaction.
pub fn rejection_code(kind: RejectionKind) -> i32 {
    match kind {
        RejectionKind::Encoding => codes::TX_ENCODING,
        RejectionKind::Signature => codes::TX_SIGNATURE,
        RejectionKind::WrongChain => codes::TX_WRONG_CHAIN,
        RejectionKind::NonceTooLow => codes::TX_NONCE_TOO_LOW,
        RejectionKind::NonceTooFarAhead => codes::TX_NONCE_TOO_FAR_AHEAD,
        RejectionKind::InsufficientBalance => codes::TX_INSUFFICIENT_BALANCE,
        RejectionKind::Duplicate => codes::TX_DUPLICATE,
        RejectionKind::Underpriced => codes::TX_UNDERPRICED,
        RejectionKind::MempoolFull => codes::TX_MEMPOOL_FULL,
        RejectionKind::Unavailable => codes::TX_UNAVAILABLE,
    }
}

/// The rejection kind an error code stands for, for clients.
pub fn rejection_kind_from_code(code: i32) -> Option<RejectionKind> {
    REJECTION_KINDS
        .into_iter()
        .find(|kind| rejection_code(*kind) == code)
}

/// The name of a rejection kind in error `data` (`{"kind": "nonceTooLow"}`).
pub fn rejection_name(kind: RejectionKind) -> &'static str {
    match kind {
        RejectionKind::Encoding => "encoding",
        RejectionKind::Signature => "signature",
        RejectionKind::WrongChain => "wrongChain",
        RejectionKind::NonceTooLow => "nonceTooLow",
        RejectionKind::NonceTooFarAhead => "nonceTooFarAhead",
        RejectionKind::InsufficientBalance => "insufficientBalance",
        RejectionKind::Duplicate => "duplicate",
        RejectionKind::Underpriced => "underpriced",
        RejectionKind::MempoolFull => "mempoolFull",
        RejectionKind::Unavailable => "unavailable",
    }
}

/// Everything that goes wrong in this crate: starting the server, answering a call, or reading an
/// answer back on the client side.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },

    #[error("invalid rpc config: {reason}")]
    InvalidConfig { reason: String },

    #[error("cannot register a method: {0}")]
    Register(#[from] RegisterMethodError),

    #[error("invalid params: {reason}")]
    InvalidParams { reason: String },

    #[error("transaction rejected: {}", .0.message)]
    Rejected(#[from] SubmitRejection),

    #[error("height {height} is not committed yet (latest is {latest})")]
    HeightNotCommitted { height: u64, latest: u64 },

    #[error("height {height} is pruned (oldest kept is {oldest_kept})")]
    HeightPruned { height: u64, oldest_kept: u64 },

    #[error("{what} not found")]
    NotFound { what: String },

    #[error("transaction {tx_hash} was not committed within {waited_ms} ms")]
    Timeout { tx_hash: Hash, waited_ms: u64 },

    #[error("server busy: {limit} calls are waiting already, retry later")]
    Busy { limit: u32 },

    #[error("rate limited: at most {per_second} calls per second (burst {burst}) per client")]
    RateLimited { per_second: u32, burst: u32 },

    #[error("subscription dropped: {reason}")]
    SubscriberTooSlow { reason: String },

    #[error("internal error: {reason}")]
    Internal { reason: String },

    /// A value from the server does not read back as a ledger value (client side).
    #[error("malformed {what}: {reason}")]
    Decode { what: &'static str, reason: String },
}

impl From<BackendError> for RpcError {
    fn from(error: BackendError) -> Self {
        match error {
            BackendError::HeightNotCommitted { height, latest } => {
                RpcError::HeightNotCommitted { height, latest }
            }
            BackendError::HeightPruned {
                height,
                oldest_kept,
            } => RpcError::HeightPruned {
                height,
                oldest_kept,
            },
            BackendError::Internal(reason) => RpcError::Internal { reason },
        }
    }
}

impl RpcError {
    /// This error's code in the API.
    pub fn code(&self) -> i32 {
        match self {
            RpcError::InvalidParams { .. } => codes::INVALID_PARAMS,
            RpcError::Rejected(rejection) => rejection_code(rejection.kind),
            RpcError::HeightNotCommitted { .. } => codes::HEIGHT_NOT_COMMITTED,
            RpcError::HeightPruned { .. } => codes::HEIGHT_PRUNED,
            RpcError::NotFound { .. } => codes::NOT_FOUND,
            RpcError::Timeout { .. } => codes::TIMEOUT,
            RpcError::Busy { .. } => codes::SERVER_BUSY,
            RpcError::RateLimited { .. } => codes::RATE_LIMITED,
            RpcError::SubscriberTooSlow { .. } => codes::SUBSCRIBER_TOO_SLOW,
            RpcError::Bind { .. }
            | RpcError::InvalidConfig { .. }
            | RpcError::Register(_)
            | RpcError::Internal { .. }
            | RpcError::Decode { .. } => codes::INTERNAL_ERROR,
        }
    }

    /// Machine-readable details for the error object's `data`.
    fn data(&self) -> Option<serde_json::Value> {
        match self {
            RpcError::Rejected(rejection) => {
                Some(json!({ "kind": rejection_name(rejection.kind) }))
            }
            RpcError::HeightNotCommitted { height, latest } => {
                Some(json!({ "height": height, "latest": latest }))
            }
            RpcError::HeightPruned {
                height,
                oldest_kept,
            } => Some(json!({ "height": height, "oldestKept": oldest_kept })),
            RpcError::NotFound { what } => Some(json!({ "what": what })),
            RpcError::Timeout { tx_hash, waited_ms } => {
                Some(json!({ "txHash": tx_hash.to_string(), "waitedMs": waited_ms }))
            }
            RpcError::Busy { limit } => Some(json!({ "limit": limit })),
            RpcError::RateLimited { per_second, burst } => {
                Some(json!({ "perSecond": per_second, "burst": burst }))
            }
            RpcError::SubscriberTooSlow { reason } => Some(json!({ "reason": reason })),
            RpcError::InvalidParams { .. }
            | RpcError::Bind { .. }
            | RpcError::InvalidConfig { .. }
            | RpcError::Register(_)
            | RpcError::Internal { .. }
            | RpcError::Decode { .. } => None,
        }
    }

    pub(crate) fn invalid_params(reason: impl Into<String>) -> RpcError {
        RpcError::InvalidParams {
            reason: reason.into(),
        }
    }

    pub(crate) fn not_found(what: impl Into<String>) -> RpcError {
        RpcError::NotFound { what: what.into() }
    }

    pub(crate) fn internal(reason: impl Into<String>) -> RpcError {
        RpcError::Internal {
            reason: reason.into(),
        }
    }
}

/// The one place an error becomes a JSON-RPC error object.
impl From<RpcError> for ErrorObjectOwned {
    fn from(error: RpcError) -> Self {
        let code = error.code();
        if code == codes::INTERNAL_ERROR {
            // The details (a storage error, a path) are for the node's log, not for callers.
            tracing::warn!(%error, "rpc call failed");
            return ErrorObjectOwned::owned(code, "internal error", None::<()>);
        }
        ErrorObjectOwned::owned(code, error.to_string(), error.data())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_rejection_kind_has_its_own_code_in_range_and_reads_back() {
        let codes: HashSet<i32> = REJECTION_KINDS.into_iter().map(rejection_code).collect();
        assert_eq!(codes.len(), REJECTION_KINDS.len());
        for kind in REJECTION_KINDS {
            let code = rejection_code(kind);
            assert!((codes::TX_UNAVAILABLE..=codes::TX_ENCODING).contains(&code));
            assert_eq!(rejection_kind_from_code(code), Some(kind));
        }
        assert_eq!(rejection_kind_from_code(codes::NOT_FOUND), None);
    }

    #[test]
    fn rejection_carries_kind_in_data() {
        let object = ErrorObjectOwned::from(RpcError::Rejected(SubmitRejection {
            kind: RejectionKind::NonceTooLow,
            message: "nonce 3 is used".into(),
        }));
        assert_eq!(object.code(), codes::TX_NONCE_TOO_LOW);
        assert_eq!(object.message(), "transaction rejected: nonce 3 is used");
        let data: serde_json::Value =
            serde_json::from_str(object.data().map(|raw| raw.get()).unwrap_or("null")).unwrap();
        assert_eq!(data, json!({ "kind": "nonceTooLow" }));
    }
}
