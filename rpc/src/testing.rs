//! Helpers for tests of the API, whatever serves it: an in-memory backend or a running node.

use crate::codes;

/// Requests the API refuses before any backend sees them, each with the HTTP status and the
/// JSON-RPC error code the answer must carry: malformed JSON, a request without a method, an
/// unknown method, parameters of the wrong type or number, and bytes that are not a transaction.
pub const MALFORMED_REQUESTS: &[(&str, u16, i32)] = &[
    ("", 400, codes::PARSE_ERROR),
    (
        r#"{"jsonrpc":"2.0","id":1,"method":"#,
        200,
        codes::PARSE_ERROR,
    ),
    (
        r#"{"jsonrpc":"2.0","id":1,"method":"node_status""#,
        200,
        codes::PARSE_ERROR,
    ),
    (
        r#"[{"jsonrpc":"2.0","id":1,"method":"node_status"}"#,
        200,
        codes::PARSE_ERROR,
    ),
    (r#"{"jsonrpc":"2.0","id":1}"#, 200, codes::INVALID_REQUEST),
    (
        r#"{"jsonrpc":"2.0","id":1,"method":"nope_nothing","params":[]}"#,
        200,
        codes::METHOD_NOT_FOUND,
    ),
    (
        r#"{"jsonrpc":"2.0","id":1,"method":"chain_getHeader","params":["one"]}"#,
        200,
        codes::INVALID_PARAMS,
    ),
    (
        r#"{"jsonrpc":"2.0","id":1,"method":"chain_getHeader","params":[]}"#,
        200,
        codes::INVALID_PARAMS,
    ),
    (
        r#"{"jsonrpc":"2.0","id":1,"method":"chain_getBlock","params":["earliest"]}"#,
        200,
        codes::INVALID_PARAMS,
    ),
    (
        r#"{"jsonrpc":"2.0","id":1,"method":"chain_getBlock","params":[-1]}"#,
        200,
        codes::INVALID_PARAMS,
    ),
    (
        r#"{"jsonrpc":"2.0","id":1,"method":"state_getAccount","params":[42]}"#,
        200,
        codes::INVALID_PARAMS,
    ),
    (
        r#"{"jsonrpc":"2.0","id":1,"method":"state_getAccount","params":["cairn1notanaddress"]}"#,
        200,
        codes::INVALID_PARAMS,
    ),
    (
        r#"{"jsonrpc":"2.0","id":1,"method":"tx_get","params":["0x1234"]}"#,
        200,
        codes::INVALID_PARAMS,
    ),
    (
        r#"{"jsonrpc":"2.0","id":1,"method":"tx_submit","params":["0xnothex"]}"#,
        200,
        codes::INVALID_PARAMS,
    ),
    (
        r#"{"jsonrpc":"2.0","id":1,"method":"tx_submit","params":[7]}"#,
        200,
        codes::INVALID_PARAMS,
    ),
    (
        r#"{"jsonrpc":"2.0","id":1,"method":"tx_submitAndWait","params":["0x00","soon"]}"#,
        200,
        codes::INVALID_PARAMS,
    ),
    (
        r#"{"jsonrpc":"2.0","id":1,"method":"tx_submit","params":["0x010203"]}"#,
        200,
        codes::TX_ENCODING,
    ),
];
