//! Every method through the typed client over HTTP, against a chain of a few blocks.

use std::time::Duration;

use cairn_ledger::{testing::test_address, Account, Address};
use cairn_rpc::{
    backend::CommitInfo,
    codes,
    types::{RpcPayload, RpcProofTerminal, RpcSubmitResult, RpcTxStatus},
    BlockTag, ChainApiClient, HexBytes, HexHash, MempoolApiClient, NodeApiClient, StateApiClient,
    TxApiClient,
};

use crate::support::{error_code, signed_transfer, TestNode, BALANCE, PATIENCE};

/// Two blocks: one transfer from account 0 to account 1, then one from account 2 to account 3.
async fn node_with_blocks() -> TestNode {
    let node = TestNode::start().await;
    node.http
        .submit(HexBytes(signed_transfer(0, 0, 1, 500).encode()))
        .await
        .unwrap();
    node.backend.commit_pending();
    node.http
        .submit(HexBytes(signed_transfer(2, 0, 3, 700).encode()))
        .await
        .unwrap();
    node.backend.commit_pending();
    node
}

#[tokio::test]
async fn node_status_reports_the_chain_tip() {
    let node = node_with_blocks().await;
    let status = node.http.node_status().await.unwrap();
    assert_eq!(status.chain_id, "cairn-test");
    assert_eq!(status.latest_height, 2);
    let block = node.http.get_block(BlockTag::Latest).await.unwrap();
    assert_eq!(status.latest_hash, block.header.hash);
    assert_eq!(status.latest_time_ms, block.header.time_ms);
    assert_eq!(status.peers, 3);
    assert!(status.validator_address.is_some());
}

#[tokio::test]
async fn blocks_headers_and_commits_read_back_and_verify() {
    let node = node_with_blocks().await;
    let block = node.http.get_block(BlockTag::Height(1)).await.unwrap();
    assert_eq!(block.header.height, 1);
    assert_eq!(block.transactions.len(), 1);
    let tx = &block.transactions[0];
    assert_eq!(tx.sender, test_address(0));
    assert_eq!(
        tx.payload,
        RpcPayload::Transfer {
            to: test_address(1),
            amount: 500
        }
    );
    // The JSON converts back to the ledger block, hashes and transaction root checked.
    let ledger_block = block.to_block().unwrap();
    assert_eq!(ledger_block.hash(), block.header.hash);

    let by_hash = node
        .http
        .get_block_by_hash(HexHash(block.header.hash))
        .await
        .unwrap();
    assert_eq!(by_hash.as_ref(), Some(&block));
    let unknown = node
        .http
        .get_block_by_hash(HexHash(cairn_ledger::Hash::digest(b"nothing")))
        .await
        .unwrap();
    assert_eq!(unknown, None);

    let header = node.http.get_header(2).await.unwrap();
    assert_eq!(header.prev_hash, block.header.hash);
    header.to_header().unwrap();

    let commit = node.http.get_commit(2).await.unwrap();
    assert_eq!(commit.block_hash, header.hash);
    let back = CommitInfo::from(&commit);
    assert_eq!(back.precommits.len(), 1);

    // A header whose fields were changed no longer reads back.
    let mut forged = header.clone();
    forged.time_ms += 1;
    assert!(forged.to_header().is_err());
}

#[tokio::test]
async fn heights_outside_the_chain_have_their_own_errors() {
    let node = node_with_blocks().await;
    let (code, data) = error_code(node.http.get_block(BlockTag::Height(9)).await.unwrap_err());
    assert_eq!(code, codes::HEIGHT_NOT_COMMITTED);
    assert_eq!(data, serde_json::json!({ "height": 9, "latest": 2 }));
    let (code, _) = error_code(node.http.get_header(0).await.unwrap_err());
    assert_eq!(code, codes::NOT_FOUND);
    let (code, _) = error_code(node.http.get_commit(3).await.unwrap_err());
    assert_eq!(code, codes::HEIGHT_NOT_COMMITTED);
    let (code, _) = error_code(node.http.get_validators(Some(5)).await.unwrap_err());
    assert_eq!(code, codes::HEIGHT_NOT_COMMITTED);
    let (code, _) = error_code(
        node.http
            .get_account(test_address(0).into(), Some(7))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, codes::HEIGHT_NOT_COMMITTED);
}

#[tokio::test]
async fn validators_default_to_the_next_height() {
    let node = node_with_blocks().await;
    let next = node.http.get_validators(None).await.unwrap();
    assert_eq!(next.height, 3);
    assert_eq!(next.validators.len(), 1);
    assert_eq!(next.validators[0].voting_power, 10);
    let at_one = node.http.get_validators(Some(1)).await.unwrap();
    assert_eq!(at_one.height, 1);
}

#[tokio::test]
async fn accounts_now_and_at_past_heights() {
    let node = node_with_blocks().await;
    let now = node
        .http
        .get_account(test_address(1).into(), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(now.balance, BALANCE + 500);
    let genesis = node
        .http
        .get_account(test_address(1).into(), Some(0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(genesis.balance, BALANCE);
    let sender = node
        .http
        .get_account(test_address(0).into(), Some(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sender.nonce, 1);
    let absent = node
        .http
        .get_account(Address([7; 20]).into(), None)
        .await
        .unwrap();
    assert_eq!(absent, None);
}

#[tokio::test]
async fn proofs_verify_end_to_end_and_tampering_is_caught() {
    let node = node_with_blocks().await;
    let proof = node
        .http
        .get_proof(test_address(0).into(), None)
        .await
        .unwrap();
    assert_eq!(proof.height, 2);
    let account = proof.verify().unwrap().unwrap();
    assert_eq!(
        account,
        Account {
            balance: BALANCE - 510,
            nonce: 1
        }
    );
    assert_eq!(proof.proof.terminal, RpcProofTerminal::Leaf);
    assert_eq!(proof.header.as_ref().unwrap().state_root, proof.state_root);
    proof.proof.decode().unwrap();

    // Absence is proven too.
    let absent = node
        .http
        .get_proof(Address([7; 20]).into(), Some(1))
        .await
        .unwrap();
    assert_eq!(absent.account, None);
    assert_eq!(absent.verify().unwrap(), None);

    // Genesis: no header, no commit.
    let genesis = node
        .http
        .get_proof(test_address(0).into(), Some(0))
        .await
        .unwrap();
    assert!(genesis.header.is_none() && genesis.commit.is_none());
    assert_eq!(genesis.verify().unwrap().unwrap().balance, BALANCE);

    // Each check trips on a broken answer.
    let mut lying_balance = proof.clone();
    lying_balance.account.as_mut().unwrap().balance += 1;
    assert!(lying_balance.verify().is_err());
    let mut other_height = proof.clone();
    other_height.height = 1;
    assert!(other_height.verify().is_err());
    let mut wrong_commit = proof.clone();
    wrong_commit.commit.as_mut().unwrap().block_hash = cairn_ledger::Hash::ZERO;
    assert!(wrong_commit.verify().is_err());
    let mut corrupt = proof.clone();
    corrupt.proof.encoded.push(0);
    assert!(corrupt.verify().is_err());
    let mut missing = proof;
    missing.commit = None;
    assert!(missing.verify().is_err());
}

#[tokio::test]
async fn submit_get_and_mempool_status() {
    let node = TestNode::start().await;
    let tx = signed_transfer(0, 0, 1, 5);
    let hash = node.http.submit(HexBytes(tx.encode())).await.unwrap();
    assert_eq!(hash.0, tx.hash());
    assert_eq!(node.http.get(hash).await.unwrap(), RpcTxStatus::Pending);
    let pool = node.http.mempool_status().await.unwrap();
    assert_eq!(pool.count, 1);
    assert_eq!(pool.bytes, tx.encode().len() as u64);
    assert_eq!(pool.max_count, 5000);

    node.backend.commit_pending();
    match node.http.get(hash).await.unwrap() {
        RpcTxStatus::Committed(receipt) => {
            assert_eq!(receipt.height, 1);
            assert_eq!(receipt.index, 0);
            assert_eq!(receipt.fee_paid, 10);
        }
        other => panic!("expected committed, got {other:?}"),
    }
    let unknown = node
        .http
        .get(HexHash(cairn_ledger::Hash::digest(b"never sent")))
        .await
        .unwrap();
    assert_eq!(unknown, RpcTxStatus::Unknown);
    assert_eq!(node.http.mempool_status().await.unwrap().count, 0);
}

#[tokio::test]
async fn rejections_carry_their_kind() {
    let node = TestNode::start().await;
    node.http
        .submit(HexBytes(signed_transfer(0, 0, 1, 5).encode()))
        .await
        .unwrap();
    let cases = [
        (
            signed_transfer(0, 0, 1, 5),
            codes::TX_DUPLICATE,
            "duplicate",
        ),
        (
            signed_transfer(0, 5, 1, 5),
            codes::TX_NONCE_TOO_FAR_AHEAD,
            "nonceTooFarAhead",
        ),
        (
            signed_transfer(1, 0, 2, BALANCE),
            codes::TX_INSUFFICIENT_BALANCE,
            "insufficientBalance",
        ),
    ];
    for (tx, expected_code, expected_kind) in cases {
        let (code, data) = error_code(node.http.submit(HexBytes(tx.encode())).await.unwrap_err());
        assert_eq!(code, expected_code, "{expected_kind}");
        assert_eq!(data, serde_json::json!({ "kind": expected_kind }));
    }
    let mut bad_signature = signed_transfer(2, 0, 1, 5);
    bad_signature.signature.0[5] ^= 1;
    let (code, _) = error_code(
        node.http
            .submit(HexBytes(bad_signature.encode()))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, codes::TX_SIGNATURE);
    assert_eq!(
        cairn_rpc::error::rejection_kind_from_code(code),
        Some(cairn_rpc::RejectionKind::Signature)
    );
}

#[tokio::test]
async fn submit_batch_answers_each_transaction() {
    let node = TestNode::start().await;
    let good = signed_transfer(0, 0, 1, 5);
    let results = node
        .http
        .submit_batch(vec![
            HexBytes(good.encode()),
            HexBytes(vec![1, 2, 3]),
            HexBytes(good.encode()),
        ])
        .await
        .unwrap();
    assert_eq!(results[0], RpcSubmitResult::Accepted { hash: good.hash() });
    let codes_seen: Vec<i32> = results[1..]
        .iter()
        .map(|result| match result {
            RpcSubmitResult::Rejected { error } => error.code,
            other => panic!("expected a rejection, got {other:?}"),
        })
        .collect();
    assert_eq!(codes_seen, [codes::TX_ENCODING, codes::TX_DUPLICATE]);

    let too_many = vec![HexBytes(good.encode()); 11];
    let (code, _) = error_code(node.http.submit_batch(too_many).await.unwrap_err());
    assert_eq!(code, codes::INVALID_PARAMS);
}

#[tokio::test]
async fn submit_and_wait_returns_the_receipt_once_committed() {
    let node = TestNode::start().await;
    let tx = signed_transfer(0, 0, 1, 5);
    let http = node.http.clone();
    let bytes = HexBytes(tx.encode());
    let waiting = tokio::spawn(async move { http.submit_and_wait(bytes, None).await });
    node.backend.wait_for_pool(1).await;
    node.backend.commit_pending();
    let receipt = tokio::time::timeout(PATIENCE, waiting)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(receipt.tx_hash, tx.hash());
    assert_eq!(receipt.height, 1);

    // Again, once committed: the receipt at once, not a nonce error.
    let again = node
        .http
        .submit_and_wait(HexBytes(tx.encode()), Some(1_000))
        .await
        .unwrap();
    assert_eq!(again, receipt);
}

#[tokio::test]
async fn submit_and_wait_times_out_with_its_own_code() {
    let node = TestNode::start().await;
    let tx = signed_transfer(0, 0, 1, 5);
    let started = std::time::Instant::now();
    let (code, data) = error_code(
        node.http
            .submit_and_wait(HexBytes(tx.encode()), Some(200))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, codes::TIMEOUT);
    assert_eq!(data["txHash"], tx.hash().to_string());
    assert!(started.elapsed() >= Duration::from_millis(200));
    // Still pooled: it may be committed later.
    assert_eq!(
        node.http.get(HexHash(tx.hash())).await.unwrap(),
        RpcTxStatus::Pending
    );

    let (code, _) = error_code(
        node.http
            .submit_and_wait(HexBytes(tx.encode()), Some(60_000))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, codes::INVALID_PARAMS, "above submit_wait_max_ms");
}
