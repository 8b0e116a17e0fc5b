//! Prints a real request and answer for every method, the examples of `docs/rpc.md`:
//! `cargo test --workspace -- --ignored --nocapture print_doc_examples`.

use cairn_ledger::{testing::test_address, Address};
use serde_json::{json, Value};

use crate::{
    subscriptions::RawWs,
    support::{signed_transfer, TestNode},
};

async fn show(node: &TestNode, method: &str, params: Value) -> Value {
    let request = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
    let (_, body, _) = node
        .raw_http(
            "POST",
            "/",
            "Content-Type: application/json\r\n",
            request.to_string().as_bytes(),
        )
        .await;
    // The answer exactly as the server wrote it (field order included).
    let answer = String::from_utf8(body).unwrap();
    println!("### {method}\n\n{request}\n\n{answer}\n");
    serde_json::from_str(&answer).unwrap()
}

#[tokio::test]
#[ignore = "prints documentation examples"]
async fn print_doc_examples() {
    let node = TestNode::start().await;
    let first = signed_transfer(0, 0, 1, 500);
    let hex = |tx: &cairn_ledger::SignedTransaction| format!("0x{}", hex::encode(tx.encode()));
    show(&node, "tx_submit", json!([hex(&first)])).await;
    show(&node, "mempool_status", json!([])).await;
    show(&node, "tx_get", json!([first.hash().to_string()])).await;
    node.backend.commit_pending();
    let second = signed_transfer(1, 0, 2, 250);
    let third = signed_transfer(1, 1, 2, 250);
    let fourth = signed_transfer(1, 2, 2, 250);
    show(
        &node,
        "tx_submitBatch",
        json!([[hex(&second), "0x0102", hex(&second)]]),
    )
    .await;
    node.backend.commit_pending();
    show(&node, "node_status", json!([])).await;
    show(&node, "chain_getBlock", json!([1])).await;
    let header = show(&node, "chain_getHeader", json!([2])).await;
    show(
        &node,
        "chain_getBlockByHash",
        json!([header["result"]["hash"]]),
    )
    .await;
    show(&node, "chain_getCommit", json!([2])).await;
    show(&node, "chain_getValidators", json!([])).await;
    show(
        &node,
        "state_getAccount",
        json!([test_address(1).to_string()]),
    )
    .await;
    show(
        &node,
        "state_getAccount",
        json!([test_address(1).to_string(), 0]),
    )
    .await;
    show(
        &node,
        "state_getAccount",
        json!([Address([7; 20]).to_string()]),
    )
    .await;
    show(
        &node,
        "state_getProof",
        json!([test_address(1).to_string(), 2]),
    )
    .await;
    show(
        &node,
        "state_getProof",
        json!([Address([7; 20]).to_string(), 0]),
    )
    .await;
    show(&node, "tx_get", json!([first.hash().to_string()])).await;
    tokio::join!(
        show(&node, "tx_submitAndWait", json!([hex(&third), 5000])),
        async {
            node.backend.wait_for_pool(1).await;
            node.backend.commit_pending();
        }
    );
    show(&node, "tx_submitAndWait", json!([hex(&fourth), 100])).await;
    show(&node, "tx_submit", json!([hex(&first)])).await;
    show(&node, "chain_getBlock", json!([99])).await;
    show(&node, "chain_getHeader", json!(["two"])).await;
    show(&node, "nope_nothing", json!([])).await;

    let mut ws = RawWs::connect(node.handle.local_addr()).await;
    for (id, method, params) in [
        (1, "chain_subscribeNewHeads", json!([])),
        (2, "tx_watch", json!([fourth.hash().to_string()])),
    ] {
        let request = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        ws.send(&request).await;
        println!("### ws {method}\n\n{request}\n\n{}\n", ws.recv_text().await);
    }
    node.backend.commit_pending();
    for _ in 0..2 {
        println!("### ws notification\n\n{}\n", ws.recv_text().await);
    }
    show(&node, "rpc.discover", json!([])).await;
}
