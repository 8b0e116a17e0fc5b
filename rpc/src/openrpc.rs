//! The OpenRPC document `rpc.discover` serves, generated from one table: [`METHODS`] (name,
//! parameters with their schemas, result schema, errors) over the shared [`schemas`] and
//! [`ERRORS`]. A test checks that the table and the registered methods name the same methods, and
//! that each object schema lists exactly the fields the server writes.

use serde_json::{json, Map, Value};

use crate::error::codes;

/// OpenRPC version of the document.
pub const OPENRPC_VERSION: &str = "1.3.2";

/// One parameter of a method.
#[derive(Debug)]
pub struct ParamSpec {
    pub name: &'static str,
    pub summary: &'static str,
    pub required: bool,
    pub schema: fn() -> Value,
}

const fn param(name: &'static str, summary: &'static str, schema: fn() -> Value) -> ParamSpec {
    ParamSpec {
        name,
        summary,
        required: true,
        schema,
    }
}

const fn optional(name: &'static str, summary: &'static str, schema: fn() -> Value) -> ParamSpec {
    ParamSpec {
        name,
        summary,
        required: false,
        schema,
    }
}

/// One method, as the document describes it.
#[derive(Debug)]
pub struct MethodSpec {
    pub name: &'static str,
    pub summary: &'static str,
    pub params: &'static [ParamSpec],
    /// Name of the result; for a subscription, of each notification's item.
    pub result_name: &'static str,
    pub result: fn() -> Value,
    /// Errors particular to the method; [`COMMON_ERRORS`] apply to every method.
    pub errors: &'static [i32],
    /// For a subscription, the method its notifications carry.
    pub notification: Option<&'static str>,
}

/// One error code, as the document names it.
#[derive(Debug)]
pub struct ErrorSpec {
    pub code: i32,
    pub name: &'static str,
    pub message: &'static str,
}

/// Every error code the API answers with.
pub const ERRORS: &[ErrorSpec] = &[
    ErrorSpec {
        code: codes::PARSE_ERROR,
        name: "ParseError",
        message: "Parse error: the body is not JSON",
    },
    ErrorSpec {
        code: codes::INVALID_REQUEST,
        name: "InvalidRequest",
        message: "Invalid request",
    },
    ErrorSpec {
        code: codes::METHOD_NOT_FOUND,
        name: "MethodNotFound",
        message: "Method not found",
    },
    ErrorSpec {
        code: codes::INVALID_PARAMS,
        name: "InvalidParams",
        message: "Invalid params: wrong count, type or format",
    },
    ErrorSpec {
        code: codes::INTERNAL_ERROR,
        name: "InternalError",
        message: "Internal error: the node failed to answer",
    },
    ErrorSpec {
        code: codes::TOO_MANY_SUBSCRIPTIONS,
        name: "TooManySubscriptions",
        message: "Too many subscriptions on the connection",
    },
    ErrorSpec {
        code: codes::OVERSIZED_REQUEST,
        name: "RequestTooLarge",
        message: "Request is too big",
    },
    ErrorSpec {
        code: codes::OVERSIZED_RESPONSE,
        name: "ResponseTooLarge",
        message: "Response is too big",
    },
    ErrorSpec {
        code: codes::SERVER_BUSY,
        name: "ServerBusy",
        message: "Server busy: too many calls waiting",
    },
    ErrorSpec {
        code: codes::BATCH_TOO_LARGE,
        name: "BatchTooLarge",
        message: "The batch request was too large",
    },
    ErrorSpec {
        code: codes::RATE_LIMITED,
        name: "RateLimited",
        message: "Rate limited",
    },
    ErrorSpec {
        code: codes::SUBSCRIBER_TOO_SLOW,
        name: "SubscriberTooSlow",
        message: "Subscription dropped: the subscriber fell behind",
    },
    ErrorSpec {
        code: codes::TIMEOUT,
        name: "Timeout",
        message: "Timed out waiting for the commit",
    },
    ErrorSpec {
        code: codes::HEIGHT_NOT_COMMITTED,
        name: "HeightNotCommitted",
        message: "Height not committed yet",
    },
    ErrorSpec {
        code: codes::HEIGHT_PRUNED,
        name: "HeightPruned",
        message: "Height pruned",
    },
    ErrorSpec {
        code: codes::NOT_FOUND,
        name: "NotFound",
        message: "Not found",
    },
    ErrorSpec {
        code: codes::TX_ENCODING,
        name: "TxEncoding",
        message: "Transaction rejected: not a canonical signed transaction, or too large",
    },
    ErrorSpec {
        code: codes::TX_SIGNATURE,
        name: "TxSignature",
        message: "Transaction rejected: bad signature",
    },
    ErrorSpec {
        code: codes::TX_WRONG_CHAIN,
        name: "TxWrongChain",
        message: "Transaction rejected: signed for another chain",
    },
    ErrorSpec {
        code: codes::TX_NONCE_TOO_LOW,
        name: "TxNonceTooLow",
        message: "Transaction rejected: nonce already used",
    },
    ErrorSpec {
        code: codes::TX_NONCE_TOO_FAR_AHEAD,
        name: "TxNonceTooFarAhead",
        message: "Transaction rejected: nonce too far ahead",
    },
    ErrorSpec {
        code: codes::TX_INSUFFICIENT_BALANCE,
        name: "TxInsufficientBalance",
        message: "Transaction rejected: balance does not cover amount plus fee",
    },
    ErrorSpec {
        code: codes::TX_DUPLICATE,
        name: "TxDuplicate",
        message: "Transaction rejected: already pooled",
    },
    ErrorSpec {
        code: codes::TX_UNDERPRICED,
        name: "TxUnderpriced",
        message: "Transaction rejected: fee too low to replace the pooled one",
    },
    ErrorSpec {
        code: codes::TX_MEMPOOL_FULL,
        name: "TxMempoolFull",
        message: "Transaction rejected: mempool full",
    },
    ErrorSpec {
        code: codes::TX_UNAVAILABLE,
        name: "TxUnavailable",
        message: "Transaction not checked: the node could not read its state",
    },
];

/// Errors any method may answer with.
pub const COMMON_ERRORS: &[i32] = &[
    codes::INVALID_PARAMS,
    codes::INTERNAL_ERROR,
    codes::RATE_LIMITED,
];

const TX_REJECTIONS: &[i32] = &[
    codes::TX_ENCODING,
    codes::TX_SIGNATURE,
    codes::TX_WRONG_CHAIN,
    codes::TX_NONCE_TOO_LOW,
    codes::TX_NONCE_TOO_FAR_AHEAD,
    codes::TX_INSUFFICIENT_BALANCE,
    codes::TX_DUPLICATE,
    codes::TX_UNDERPRICED,
    codes::TX_MEMPOOL_FULL,
    codes::TX_UNAVAILABLE,
];

const HEIGHT_ERRORS: &[i32] = &[codes::HEIGHT_NOT_COMMITTED, codes::NOT_FOUND];

/// Every method the server registers.
pub const METHODS: &[MethodSpec] = &[
    MethodSpec {
        name: "node_status",
        summary: "Chain id, genesis hash, node id, latest block, sync state, peers, validator \
            address and version.",
        params: &[],
        result_name: "status",
        result: || schema_ref("NodeStatus"),
        errors: &[],
        notification: None,
    },
    MethodSpec {
        name: "chain_getBlock",
        summary: "The block at a height (1 and up) or the latest one.",
        params: &[param("block", "A height or \"latest\".", || {
            schema_ref("BlockTag")
        })],
        result_name: "block",
        result: || schema_ref("Block"),
        errors: HEIGHT_ERRORS,
        notification: None,
    },
    MethodSpec {
        name: "chain_getBlockByHash",
        summary: "The block with this hash, or null.",
        params: &[param("hash", "The block's hash.", || schema_ref("Hash"))],
        result_name: "block",
        result: || nullable(schema_ref("Block")),
        errors: &[],
        notification: None,
    },
    MethodSpec {
        name: "chain_getHeader",
        summary: "The header at a height (1 and up), with its hash.",
        params: &[param("height", "The height.", || schema_ref("Height"))],
        result_name: "header",
        result: || schema_ref("Header"),
        errors: HEIGHT_ERRORS,
        notification: None,
    },
    MethodSpec {
        name: "chain_getCommit",
        summary: "The commit certificate of a height (1 and up).",
        params: &[param("height", "The height.", || schema_ref("Height"))],
        result_name: "commit",
        result: || schema_ref("Commit"),
        errors: HEIGHT_ERRORS,
        notification: None,
    },
    MethodSpec {
        name: "chain_getValidators",
        summary: "The validator set deciding a height; by default latest + 1, the set deciding \
            the next block.",
        params: &[optional(
            "height",
            "The height; latest + 1 when absent.",
            || schema_ref("Height"),
        )],
        result_name: "validatorSet",
        result: || schema_ref("ValidatorSet"),
        errors: HEIGHT_ERRORS,
        notification: None,
    },
    MethodSpec {
        name: "chain_subscribeNewHeads",
        summary: "WebSocket only. Every committed header, with its hash, as chain_newHead \
            notifications; a subscriber that falls behind is dropped with a SubscriberTooSlow \
            error.",
        params: &[],
        result_name: "header",
        result: || schema_ref("Header"),
        errors: &[codes::TOO_MANY_SUBSCRIPTIONS, codes::SUBSCRIBER_TOO_SLOW],
        notification: Some("chain_newHead"),
    },
    MethodSpec {
        name: "chain_unsubscribeNewHeads",
        summary: "Ends a chain_subscribeNewHeads subscription; true if it was active.",
        params: &[param(
            "subscription",
            "The subscription id.",
            || json!({ "type": ["string", "integer"] }),
        )],
        result_name: "unsubscribed",
        result: || json!({ "type": "boolean" }),
        errors: &[],
        notification: None,
    },
    MethodSpec {
        name: "state_getAccount",
        summary: "An account's balance and nonce at the latest height, or at a height; null when \
            the account does not exist.",
        params: &[
            param("address", "The account's address.", || {
                schema_ref("Address")
            }),
            optional(
                "height",
                "The height (0 is genesis); the latest when absent.",
                || schema_ref("Height"),
            ),
        ],
        result_name: "account",
        result: || nullable(schema_ref("Account")),
        errors: &[codes::HEIGHT_NOT_COMMITTED, codes::HEIGHT_PRUNED],
        notification: None,
    },
    MethodSpec {
        name: "state_getProof",
        summary: "An account (or its absence) with its Merkle proof, and the header and commit \
            certificate of that height, so that a client holding the validator set can verify \
            the answer.",
        params: &[
            param("address", "The account's address.", || {
                schema_ref("Address")
            }),
            optional(
                "height",
                "The height (0 is genesis); the latest when absent.",
                || schema_ref("Height"),
            ),
        ],
        result_name: "accountProof",
        result: || schema_ref("AccountProof"),
        errors: &[
            codes::HEIGHT_NOT_COMMITTED,
            codes::HEIGHT_PRUNED,
            codes::NOT_FOUND,
        ],
        notification: None,
    },
    MethodSpec {
        name: "tx_submit",
        summary: "Admits a signed transaction to the mempool and gossips it; returns its hash.",
        params: &[param(
            "tx",
            "The signed transaction's canonical bytes.",
            || schema_ref("Bytes"),
        )],
        result_name: "hash",
        result: || schema_ref("Hash"),
        errors: TX_REJECTIONS,
        notification: None,
    },
    MethodSpec {
        name: "tx_submitBatch",
        summary: "Submits transactions in order (at most max_batch_size); one result per \
            transaction, a hash or an error object.",
        params: &[param(
            "txs",
            "Signed transactions' canonical bytes.",
            || json!({ "type": "array", "items": schema_ref("Bytes") }),
        )],
        result_name: "results",
        result: || json!({ "type": "array", "items": schema_ref("SubmitResult") }),
        errors: &[],
        notification: None,
    },
    MethodSpec {
        name: "tx_submitAndWait",
        summary: "Submits a transaction and answers with its receipt once it is committed. \
            Submitting again a transaction that is pooled or committed waits for it or answers \
            at once.",
        params: &[
            param("tx", "The signed transaction's canonical bytes.", || {
                schema_ref("Bytes")
            }),
            optional(
                "timeoutMs",
                "How long to wait, in milliseconds; submit_wait_default_ms when absent, at most \
                 submit_wait_max_ms.",
                || json!({ "type": "integer", "minimum": 0 }),
            ),
        ],
        result_name: "receipt",
        result: || schema_ref("Receipt"),
        errors: &[
            codes::TIMEOUT,
            codes::SERVER_BUSY,
            codes::TX_ENCODING,
            codes::TX_SIGNATURE,
            codes::TX_WRONG_CHAIN,
            codes::TX_NONCE_TOO_LOW,
            codes::TX_NONCE_TOO_FAR_AHEAD,
            codes::TX_INSUFFICIENT_BALANCE,
            codes::TX_DUPLICATE,
            codes::TX_UNDERPRICED,
            codes::TX_MEMPOOL_FULL,
            codes::TX_UNAVAILABLE,
        ],
        notification: None,
    },
    MethodSpec {
        name: "tx_get",
        summary: "Where a transaction is: pending, committed (with its receipt) or unknown.",
        params: &[param("hash", "The transaction's hash.", || {
            schema_ref("Hash")
        })],
        result_name: "status",
        result: || schema_ref("TxStatus"),
        errors: &[],
        notification: None,
    },
    MethodSpec {
        name: "tx_watch",
        summary: "WebSocket only. One tx_committed notification with the receipt when the \
            transaction is committed (at once if it already is); the server then ends the \
            subscription.",
        params: &[param("hash", "The transaction's hash.", || {
            schema_ref("Hash")
        })],
        result_name: "receipt",
        result: || schema_ref("Receipt"),
        errors: &[codes::TOO_MANY_SUBSCRIPTIONS],
        notification: Some("tx_committed"),
    },
    MethodSpec {
        name: "tx_unwatch",
        summary: "Ends a tx_watch subscription; true if it was active.",
        params: &[param(
            "subscription",
            "The subscription id.",
            || json!({ "type": ["string", "integer"] }),
        )],
        result_name: "unsubscribed",
        result: || json!({ "type": "boolean" }),
        errors: &[],
        notification: None,
    },
    MethodSpec {
        name: "mempool_status",
        summary: "How many transactions and bytes the mempool holds, and its limits.",
        params: &[],
        result_name: "status",
        result: || schema_ref("MempoolStatus"),
        errors: &[],
        notification: None,
    },
    MethodSpec {
        name: "rpc.discover",
        summary: "This document.",
        params: &[],
        result_name: "openrpcDocument",
        result: || json!({ "type": "object" }),
        errors: &[],
        notification: None,
    },
];

/// The document: every method of [`METHODS`], with [`schemas`] and [`ERRORS`] as components.
pub fn document() -> Value {
    let methods: Vec<Value> = METHODS.iter().map(method_document).collect();
    let errors: Map<String, Value> = ERRORS
        .iter()
        .map(|error| {
            (
                error.name.to_owned(),
                json!({ "code": error.code, "message": error.message }),
            )
        })
        .collect();
    json!({
        "openrpc": OPENRPC_VERSION,
        "info": {
            "title": "Cairn JSON-RPC API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Positional parameters. Hashes, keys, signatures and bytes are 0x-hex; \
                addresses bech32m (cairn1…); amounts decimal strings; heights JSON numbers.",
        },
        "methods": methods,
        "components": {
            "schemas": Value::Object(schemas()),
            "errors": Value::Object(errors),
        },
    })
}

fn method_document(method: &MethodSpec) -> Value {
    let params: Vec<Value> = method
        .params
        .iter()
        .map(|param| {
            json!({
                "name": param.name,
                "summary": param.summary,
                "required": param.required,
                "schema": (param.schema)(),
            })
        })
        .collect();
    let errors: Vec<Value> = method
        .errors
        .iter()
        .chain(COMMON_ERRORS)
        .filter_map(|code| ERRORS.iter().find(|error| error.code == *code))
        .map(|error| json!({ "$ref": format!("#/components/errors/{}", error.name) }))
        .collect();
    let mut document = json!({
        "name": method.name,
        "summary": method.summary,
        "paramStructure": "by-position",
        "params": params,
        "result": { "name": method.result_name, "schema": (method.result)() },
        "errors": errors,
    });
    if let (Some(notification), Value::Object(fields)) = (method.notification, &mut document) {
        fields.insert(
            "x-notification".into(),
            json!({
                "method": notification,
                "params": { "subscription": "the subscription id", "result": method.result_name },
            }),
        );
    }
    document
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn nullable(schema: Value) -> Value {
    json!({ "oneOf": [schema, { "type": "null" }] })
}

/// An object whose every field is required and no other allowed.
fn object(description: &str, fields: &[(&str, Value)]) -> Value {
    let properties: Map<String, Value> = fields
        .iter()
        .map(|(name, schema)| ((*name).to_owned(), schema.clone()))
        .collect();
    let required: Vec<&str> = fields.iter().map(|(name, _)| *name).collect();
    json!({
        "description": description,
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

/// The shared schemas, by name.
pub fn schemas() -> Map<String, Value> {
    let hash = || schema_ref("Hash");
    let address = || schema_ref("Address");
    let amount = || schema_ref("Amount");
    let height = || schema_ref("Height");
    let uint = || json!({ "type": "integer", "minimum": 0 });
    let receipt_fields = || {
        vec![
            ("txHash", hash()),
            ("height", height()),
            ("index", uint()),
            ("sender", address()),
            ("nonce", uint()),
            ("feePaid", amount()),
        ]
    };
    let mut committed_fields = receipt_fields();
    committed_fields.insert(0, ("status", json!({ "const": "committed" })));

    let entries: Vec<(&str, Value)> = vec![
        ("Hash", json!({ "description": "32 bytes as 0x-hex.", "type": "string", "pattern": "^(0x)?[0-9a-fA-F]{64}$" })),
        ("PublicKey", json!({ "description": "An ed25519 public key: 32 bytes as 0x-hex.", "type": "string", "pattern": "^(0x)?[0-9a-fA-F]{64}$" })),
        ("Signature", json!({ "description": "An ed25519 signature: 64 bytes as 0x-hex.", "type": "string", "pattern": "^(0x)?[0-9a-fA-F]{128}$" })),
        ("Bytes", json!({ "description": "Bytes as 0x-hex.", "type": "string", "pattern": "^(0x)?([0-9a-fA-F]{2})*$" })),
        ("Address", json!({ "description": "An account address in bech32m text.", "type": "string", "pattern": "^cairn1[02-9ac-hj-np-z]{38}$" })),
        ("Amount", json!({ "description": "An amount in the smallest unit, as a decimal string (up to 2^64 - 1).", "type": "string", "pattern": "^[0-9]{1,20}$" })),
        ("Height", json!({ "description": "A block height; 0 is genesis.", "type": "integer", "minimum": 0 })),
        ("BlockTag", json!({ "description": "A height or \"latest\".", "oneOf": [height(), { "const": "latest" }] })),
        ("NodeStatus", object("The node's view of itself.", &[
            ("chainId", json!({ "type": "string" })),
            ("genesisHash", hash()),
            ("nodeId", json!({ "type": "string" })),
            ("latestHeight", height()),
            ("latestHash", hash()),
            ("latestTimeMs", uint()),
            ("syncing", json!({ "type": "boolean" })),
            ("peers", uint()),
            ("validatorAddress", nullable(address())),
            ("version", json!({ "type": "string" })),
        ])),
        ("Header", object("A block header with its hash.", &[
            ("hash", hash()),
            ("chainId", json!({ "type": "string" })),
            ("height", height()),
            ("timeMs", uint()),
            ("prevHash", hash()),
            ("txRoot", hash()),
            ("evidenceRoot", hash()),
            ("stateRoot", hash()),
            ("validatorSetHash", hash()),
            ("proposer", address()),
        ])),
        ("Payload", json!({
            "description": "What a transaction does.",
            "oneOf": [object("A transfer.", &[
                ("type", json!({ "const": "transfer" })),
                ("to", address()),
                ("amount", amount()),
            ])],
        })),
        ("Transaction", object("A signed transaction, decoded.", &[
            ("hash", hash()),
            ("chainId", json!({ "type": "string" })),
            ("signer", schema_ref("PublicKey")),
            ("sender", address()),
            ("nonce", uint()),
            ("fee", amount()),
            ("payload", schema_ref("Payload")),
            ("signature", schema_ref("Signature")),
        ])),
        ("Block", object("A block.", &[
            ("header", schema_ref("Header")),
            ("transactions", json!({ "type": "array", "items": schema_ref("Transaction") })),
            ("evidence", json!({ "type": "array", "items": { "type": "string", "pattern": "^0x([0-9a-f]{2})*$" } })),
        ])),
        ("Receipt", object("What executing a committed transaction did.", &receipt_fields())),
        ("Account", object("An account.", &[("balance", amount()), ("nonce", uint())])),
        ("CommitSignature", object("One precommit.", &[
            ("validator", schema_ref("PublicKey")),
            ("signature", schema_ref("Signature")),
        ])),
        ("Commit", object("A commit certificate: precommits of more than 2/3 of the voting power for blockHash.", &[
            ("height", height()),
            ("round", uint()),
            ("blockHash", hash()),
            ("precommits", json!({ "type": "array", "items": schema_ref("CommitSignature") })),
        ])),
        ("Validator", object("A validator.", &[
            ("name", json!({ "type": "string" })),
            ("publicKey", schema_ref("PublicKey")),
            ("address", address()),
            ("votingPower", amount()),
        ])),
        ("ValidatorSet", object("The validator set deciding a height.", &[
            ("height", height()),
            ("hash", hash()),
            ("validators", json!({ "type": "array", "items": schema_ref("Validator") })),
        ])),
        ("MerkleProof", object("A state-tree proof; encoded is the canonical (borsh) cairn_ledger::Proof.", &[
            ("encoded", schema_ref("Bytes")),
            ("depth", uint()),
            ("terminal", json!({ "enum": ["empty", "leaf"] })),
            ("leafKey", nullable(hash())),
        ])),
        ("AccountProof", object("An account or its absence, proven against a certified header.", &[
            ("address", address()),
            ("height", height()),
            ("stateRoot", hash()),
            ("stateKey", hash()),
            ("account", nullable(schema_ref("Account"))),
            ("proof", schema_ref("MerkleProof")),
            ("header", nullable(schema_ref("Header"))),
            ("commit", nullable(schema_ref("Commit"))),
        ])),
        ("TxStatus", json!({
            "description": "Where a transaction is.",
            "oneOf": [
                object("In the mempool.", &[("status", json!({ "const": "pending" }))]),
                object("Committed; the receipt's fields beside the status.", &committed_fields),
                object("Neither pooled nor committed.", &[("status", json!({ "const": "unknown" }))]),
            ],
        })),
        ("MempoolStatus", object("Mempool size and limits.", &[
            ("count", uint()),
            ("bytes", uint()),
            ("maxCount", uint()),
            ("maxBytes", uint()),
        ])),
        ("ErrorObject", json!({
            "description": "A JSON-RPC error object.",
            "type": "object",
            "properties": {
                "code": { "type": "integer" },
                "message": { "type": "string" },
                "data": {},
            },
            "required": ["code", "message"],
            "additionalProperties": false,
        })),
        ("SubmitResult", json!({
            "description": "One transaction's outcome: its hash, or why it was refused.",
            "oneOf": [
                object("Admitted.", &[("hash", hash())]),
                object("Refused.", &[("error", schema_ref("ErrorObject"))]),
            ],
        })),
    ];
    entries
        .into_iter()
        .map(|(name, schema)| (name.to_owned(), schema))
        .collect()
}
