//! Bad input of every kind gets its documented error code, and the server keeps serving after.

use cairn_rpc::{
    codes, testing::MALFORMED_REQUESTS, HexBytes, NodeApiClient, RpcConfig, TxApiClient,
};
use jsonrpsee::core::{client::ClientT, params::ArrayParams};
use serde_json::{json, Value};

use crate::support::{error_code, test_config, TestNode};

/// The node still answers a well-formed call.
async fn still_serving(node: &TestNode) {
    node.http
        .node_status()
        .await
        .expect("the server keeps serving");
}

#[tokio::test]
async fn protocol_errors_have_json_rpc_codes() {
    let node = TestNode::start().await;
    for (body, expected_status, expected_code) in MALFORMED_REQUESTS {
        let (status, answer) = node.post_json(body).await;
        assert_eq!(
            answer["error"]["code"], *expected_code,
            "{body} -> {answer}"
        );
        assert_eq!(status, *expected_status, "{body} -> {answer}");
    }
    still_serving(&node).await;
}

#[tokio::test]
async fn typed_calls_see_the_same_codes() {
    let node = TestNode::start().await;
    let (code, _) = error_code(
        node.http
            .request::<Value, _>("nope_nothing", ArrayParams::new())
            .await
            .unwrap_err(),
    );
    assert_eq!(code, codes::METHOD_NOT_FOUND);
    let (code, data) = error_code(
        node.http
            .submit(HexBytes(vec![0xde, 0xad]))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, codes::TX_ENCODING);
    assert_eq!(data, json!({ "kind": "encoding" }));
    still_serving(&node).await;
}

#[tokio::test]
async fn oversize_bodies_and_batches_are_refused() {
    let node = TestNode::start().await;
    let huge = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tx_submit","params":["0x{}"]}}"#,
        "00".repeat(64 * 1024)
    );
    let (status, answer) = node.post_json(&huge).await;
    assert_eq!(status, 413);
    assert_eq!(answer["error"]["code"], codes::OVERSIZED_REQUEST);

    let call = json!({ "jsonrpc": "2.0", "id": 1, "method": "node_status", "params": [] });
    let (_, answer) = node
        .post_json(&Value::Array(vec![call.clone(); 11]).to_string())
        .await;
    assert_eq!(answer["error"]["code"], codes::BATCH_TOO_LARGE, "{answer}");
    let (_, answer) = node
        .post_json(&Value::Array(vec![call; 10]).to_string())
        .await;
    assert_eq!(answer.as_array().map(Vec::len), Some(10), "{answer}");

    // A transaction that is too large for the ledger is an encoding rejection, not a crash.
    let (code, _) = error_code(node.http.submit(HexBytes(vec![0; 2048])).await.unwrap_err());
    assert_eq!(code, codes::TX_ENCODING);
    still_serving(&node).await;
}

#[tokio::test]
async fn clients_over_their_rate_are_refused_then_served_again() {
    let node = TestNode::start_with(RpcConfig {
        rate_limit_per_second: 5,
        rate_limit_burst: 3,
        ..test_config()
    })
    .await;
    let mut outcomes = Vec::new();
    for _ in 0..5 {
        outcomes.push(node.http.node_status().await.map_err(error_code));
    }
    assert!(outcomes[..3].iter().all(Result::is_ok), "{outcomes:?}");
    let (code, data) = outcomes[4].clone().unwrap_err();
    assert_eq!(code, codes::RATE_LIMITED);
    assert_eq!(data, json!({ "perSecond": 5, "burst": 3 }));

    // Each call of a batch counts.
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let call = json!({ "jsonrpc": "2.0", "id": 1, "method": "node_status", "params": [] });
    let (_, answer) = node
        .post_json(&Value::Array(vec![call; 6]).to_string())
        .await;
    let limited = answer
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["error"]["code"] == codes::RATE_LIMITED)
        .count();
    assert_eq!(limited, 3, "{answer}");

    // /health is not rate limited, and the bucket refills.
    let (status, _, _) = node.raw_http("GET", "/health", "", b"").await;
    assert_eq!(status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    still_serving(&node).await;
}

#[tokio::test]
async fn health_answers_ok_and_other_http_misuse_is_refused() {
    let node = TestNode::start().await;
    let (status, body, head) = node.raw_http("GET", "/health", "", b"").await;
    assert_eq!((status, body.as_slice()), (200, b"ok".as_slice()));
    assert!(
        head.to_lowercase().contains("content-type: text/plain"),
        "{head}"
    );
    let (status, _, _) = node.raw_http("GET", "/", "", b"").await;
    assert_eq!(status, 405);
    let (status, _, _) = node
        .raw_http("POST", "/", "Content-Type: text/plain\r\n", b"{}")
        .await;
    assert_eq!(status, 415);
    still_serving(&node).await;
}

#[tokio::test]
async fn cors_allows_configured_origins_only() {
    let node = TestNode::start_with(RpcConfig {
        cors_allowed_origins: vec!["https://wallet.example".into()],
        ..test_config()
    })
    .await;
    let preflight = |origin: &'static str| {
        format!(
            "Origin: {origin}\r\nAccess-Control-Request-Method: POST\r\n\
             Access-Control-Request-Headers: content-type\r\n"
        )
    };
    let (status, _, head) = node
        .raw_http("OPTIONS", "/", &preflight("https://wallet.example"), b"")
        .await;
    assert_eq!(status, 200);
    assert!(
        head.to_lowercase()
            .contains("access-control-allow-origin: https://wallet.example"),
        "{head}"
    );
    let (_, _, head) = node
        .raw_http("OPTIONS", "/", &preflight("https://evil.example"), b"")
        .await;
    assert!(
        !head.to_lowercase().contains("access-control-allow-origin"),
        "{head}"
    );

    let (status, body, head) = node
        .raw_http(
            "POST",
            "/",
            "Content-Type: application/json\r\nOrigin: https://wallet.example\r\n",
            br#"{"jsonrpc":"2.0","id":1,"method":"node_status","params":[]}"#,
        )
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(
        head.to_lowercase().contains("access-control-allow-origin"),
        "{head}"
    );
}

#[tokio::test]
async fn bad_configs_are_refused_at_start() {
    let backend = crate::support::TestBackend::new();
    for config in [
        RpcConfig {
            max_batch_size: 0,
            ..test_config()
        },
        RpcConfig {
            submit_wait_default_ms: 10,
            submit_wait_max_ms: 5,
            ..test_config()
        },
        RpcConfig {
            cors_allowed_origins: vec!["bad\norigin".into()],
            ..test_config()
        },
    ] {
        let error = cairn_rpc::start(&config, backend.clone())
            .await
            .unwrap_err();
        assert!(
            matches!(error, cairn_rpc::RpcError::InvalidConfig { .. }),
            "{error}"
        );
    }
    // The port is in use.
    let node = TestNode::start().await;
    let taken = RpcConfig {
        listen: node.handle.local_addr(),
        ..test_config()
    };
    let error = cairn_rpc::start(&taken, backend).await.unwrap_err();
    assert!(matches!(error, cairn_rpc::RpcError::Bind { .. }), "{error}");
}

#[tokio::test]
async fn a_stopped_server_stops() {
    let node = TestNode::start().await;
    let handle = node.handle.clone();
    handle.stop();
    tokio::time::timeout(crate::support::PATIENCE, handle.stopped())
        .await
        .expect("the server stops");
    assert!(node.http.node_status().await.is_err());
}
