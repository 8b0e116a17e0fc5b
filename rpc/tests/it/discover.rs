//! `rpc.discover` describes exactly the registered methods, and its schemas exactly the fields the
//! server writes.

use std::collections::BTreeSet;

use cairn_ledger::testing::test_address;
use cairn_rpc::{
    openrpc, BlockTag, ChainApiClient, DiscoverApiClient, HexBytes, HexHash, MempoolApiClient,
    NodeApiClient, StateApiClient, TxApiClient,
};
use serde_json::Value;

use crate::support::{signed_transfer, test_config, TestBackend, TestNode};

#[tokio::test]
async fn the_document_lists_every_registered_method_and_no_other() {
    let module = cairn_rpc::rpc_module(&test_config(), TestBackend::new()).unwrap();
    let registered: BTreeSet<String> = module.method_names().map(str::to_owned).collect();
    let document = openrpc::document();
    let described: BTreeSet<String> = document["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|method| method["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(registered, described);
    assert_eq!(
        described.len(),
        openrpc::METHODS.len(),
        "a method is listed twice"
    );

    // Every reference points at a component.
    let text = document.to_string();
    for reference in text.split("\"$ref\":\"").skip(1) {
        let path = &reference[..reference.find('"').unwrap()];
        let mut target = &document;
        for part in path.trim_start_matches("#/").split('/') {
            target = &target[part];
        }
        assert!(!target.is_null(), "dangling reference {path}");
    }
}

#[tokio::test]
async fn discover_serves_the_document() {
    let node = TestNode::start().await;
    assert_eq!(node.http.discover().await.unwrap(), openrpc::document());
}

/// The field names the schema `name` declares, or those of its `variant`-th alternative.
fn schema_fields(name: &str, variant: Option<usize>) -> BTreeSet<String> {
    let schemas = openrpc::schemas();
    let mut schema = &schemas[name];
    if let Some(index) = variant {
        schema = &schema["oneOf"][index];
    }
    let properties: BTreeSet<String> = schema["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("{name} has no properties"))
        .keys()
        .cloned()
        .collect();
    let required: BTreeSet<String> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|field| field.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        properties, required,
        "{name}: every field is always written"
    );
    properties
}

fn value_fields(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .cloned()
        .collect()
}

fn assert_shape(name: &str, variant: Option<usize>, value: impl serde::Serialize) {
    let value = serde_json::to_value(value).unwrap();
    assert_eq!(
        schema_fields(name, variant),
        value_fields(&value),
        "{name}: {value}"
    );
}

#[tokio::test]
async fn schemas_name_exactly_the_fields_the_server_writes() {
    let node = TestNode::start().await;
    let tx = signed_transfer(0, 0, 1, 5);
    node.http.submit(HexBytes(tx.encode())).await.unwrap();
    assert_shape(
        "MempoolStatus",
        None,
        node.http.mempool_status().await.unwrap(),
    );
    assert_shape(
        "TxStatus",
        Some(0),
        node.http.get(HexHash(tx.hash())).await.unwrap(),
    );
    node.backend.commit_pending();

    assert_shape("NodeStatus", None, node.http.node_status().await.unwrap());
    let block = node.http.get_block(BlockTag::Latest).await.unwrap();
    assert_shape("Block", None, &block);
    assert_shape("Header", None, &block.header);
    assert_shape("Transaction", None, &block.transactions[0]);
    assert_shape("Payload", Some(0), &block.transactions[0].payload);
    let commit = node.http.get_commit(1).await.unwrap();
    assert_shape("Commit", None, &commit);
    assert_shape("CommitSignature", None, &commit.precommits[0]);
    let validators = node.http.get_validators(None).await.unwrap();
    assert_shape("ValidatorSet", None, &validators);
    assert_shape("Validator", None, &validators.validators[0]);
    let proof = node
        .http
        .get_proof(test_address(0).into(), None)
        .await
        .unwrap();
    assert_shape("AccountProof", None, &proof);
    assert_shape("MerkleProof", None, &proof.proof);
    assert_shape("Account", None, proof.account.unwrap());
    let status = node.http.get(HexHash(tx.hash())).await.unwrap();
    assert_shape("TxStatus", Some(1), &status);
    if let cairn_rpc::types::RpcTxStatus::Committed(receipt) = status {
        assert_shape("Receipt", None, receipt);
    }
    let unknown = node
        .http
        .get(HexHash(cairn_ledger::Hash::digest(b"unknown")))
        .await
        .unwrap();
    assert_shape("TxStatus", Some(2), unknown);
    let results = node
        .http
        .submit_batch(vec![HexBytes(vec![1])])
        .await
        .unwrap();
    assert_shape("SubmitResult", Some(1), &results[0]);
}
