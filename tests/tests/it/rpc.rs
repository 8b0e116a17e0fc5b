//! The JSON-RPC API of `docs/rpc.md` against a 4-validator devnet of real `cairn` processes: every
//! method over HTTP, both subscriptions over WebSocket, and bad input of every kind answered with
//! its documented code while the node keeps serving and the chain keeps going.
//!
//! One devnet for the whole file (each start costs seconds); the steps run in order on it and
//! each says what it leaves behind. Accounts used: 0 `tx_submit` (and nonce too low later),
//! 1 `tx_watch` and `tx_submitAndWait`, 2 a transaction stuck behind a nonce gap, 3
//! `tx_submitBatch`, 5 to 8 the rejections; 5 also the last transfer.

use std::{
    collections::{BTreeSet, HashSet},
    future::Future,
    time::{Duration, Instant},
};

use cairn_consensus::{
    encoding::vote_sign_bytes,
    types::{Round, Vote, VoteType},
};
use cairn_ledger::{Address, Hash, Payload, SignedTransaction, Transaction};
use cairn_node::context::CairnContext;
use cairn_rpc::{
    codes,
    testing::MALFORMED_REQUESTS,
    types::{
        RpcAccount, RpcAccountProof, RpcBlock, RpcCommit, RpcHeader, RpcMempoolStatus,
        RpcNodeStatus, RpcPayload, RpcReceipt, RpcSubmitResult, RpcTxStatus, RpcValidatorSet,
    },
    ChainApiClient, HexHash, NodeApiClient, TxApiClient, WsClient, WsClientBuilder,
};
use cairn_tests::{call, exclusive, wait_for, Devnet, Result};
use jsonrpsee::{
    core::{
        client::{Error as ClientError, Subscription},
        DeserializeOwned,
    },
    http_client::{HttpClient, HttpClientBuilder},
};
use serde_json::{json, Value};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// RPC on 21700..21703 (p2p on 21800.., metrics on 21900..).
const BASE_PORT: u16 = 21700;
const WAIT: Duration = Duration::from_secs(90);
/// What a single answer (not a commit) may take.
const ANSWER: Duration = Duration::from_secs(15);

/// The method table of docs/rpc.md.
const DOCUMENTED_METHODS: [&str; 18] = [
    "node_status",
    "chain_getBlock",
    "chain_getBlockByHash",
    "chain_getHeader",
    "chain_getCommit",
    "chain_getValidators",
    "chain_subscribeNewHeads",
    "chain_unsubscribeNewHeads",
    "state_getAccount",
    "state_getProof",
    "tx_submit",
    "tx_submitBatch",
    "tx_submitAndWait",
    "tx_get",
    "tx_watch",
    "tx_unwatch",
    "mempool_status",
    "rpc.discover",
];

/// The error-code table of docs/rpc.md.
const DOCUMENTED_CODES: [i32; 26] = [
    -32700, -32600, -32601, -32602, -32603, -32006, -32007, -32008, -32009, -32010, -32020, -32021,
    -32030, -32040, -32041, -32042, -32050, -32051, -32052, -32053, -32054, -32055, -32056, -32057,
    -32058, -32059,
];

/// Returns an error (so that the logs are dumped) instead of panicking.
macro_rules! ensure {
    ($cond:expr, $($reason:tt)+) => {
        if !$cond {
            return Err(format!($($reason)+).into());
        }
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rpc_api_answers_as_documented_on_a_running_devnet() -> Result<()> {
    let _guard = exclusive().await;
    let started = Instant::now();
    let mut devnet = Devnet::start(4, BASE_PORT)?;
    let result = async {
        let devnet = &devnet;
        step("devnet up", async {
            for index in 0..4 {
                wait_height(devnet, index, 2).await?;
            }
            Ok(())
        })
        .await?;
        step("health", health(devnet)).await?;
        step("node status", node_status(devnet)).await?;
        let sent = step("submit and follow", submit_and_follow(devnet)).await?;
        step("wait and watch", wait_and_watch(devnet)).await?;
        step("blocks and commits", blocks_and_commits(devnet, &sent)).await?;
        step("accounts and proofs", accounts_and_proofs(devnet, &sent)).await?;
        step("new heads", new_heads(devnet)).await?;
        step("discover", discover(devnet)).await?;
        step("bad input", bad_input(devnet)).await?;
        step("everyone agrees", everyone_agrees(devnet)).await
    }
    .await;
    let result = result.and_then(|()| {
        for node in &mut devnet.nodes {
            ensure!(node.is_running(), "node {} exited", node.index);
        }
        Ok(())
    });
    if result.is_err() {
        devnet.dump_logs(40);
    }
    eprintln!("rpc e2e: done in {:?}", started.elapsed());
    result
}

/// Runs one step, naming it in its error and printing how long it took.
async fn step<T>(name: &str, body: impl Future<Output = Result<T>>) -> Result<T> {
    let started = Instant::now();
    let result = body.await;
    let outcome = if result.is_ok() { "ok" } else { "FAILED" };
    eprintln!("rpc e2e: {name}: {outcome} in {:?}", started.elapsed());
    result.map_err(|error| format!("step {name:?}: {error}").into())
}

// ---------------------------------------------------------------------------------------------
// Steps
// ---------------------------------------------------------------------------------------------

/// `GET /health` answers `200 ok` as plain text on every node.
async fn health(devnet: &Devnet) -> Result<()> {
    for index in 0..devnet.nodes.len() {
        let (status, body, head) = raw_http(port(index), "GET", "/health", "", b"").await?;
        ensure!(status == 200, "node {index}: /health answered {status}");
        ensure!(body == b"ok", "node {index}: /health said {body:?}");
        ensure!(
            head.to_lowercase().contains("content-type: text/plain"),
            "node {index}: /health is not text/plain: {head}"
        );
    }
    Ok(())
}

/// `node_status` on every node: one chain, four distinct validators that are the set's, all
/// peers connected, and a latest block that is the one `chain_getHeader` serves.
async fn node_status(devnet: &Devnet) -> Result<()> {
    let set: RpcValidatorSet =
        serde_json::from_value(call(&client(devnet, 0)?, "chain_getValidators", vec![]).await?)?;
    ensure!(set.validators.len() == 4, "validator set: {set:?}");
    let set_addresses: HashSet<Address> = set.validators.iter().map(|v| v.address).collect();

    let mut genesis_hashes = HashSet::new();
    let mut node_ids = HashSet::new();
    let mut validator_addresses = HashSet::new();
    for index in 0..4 {
        let client = client(devnet, index)?;
        // A fully meshed devnet: each node sees the three others, and none is catching up.
        let raw = wait_for(
            &format!("node {index} to see 3 peers and not to be syncing"),
            WAIT,
            || {
                let client = client.clone();
                async move {
                    let raw = call(&client, "node_status", vec![]).await.ok()?;
                    let ready = raw["peers"] == json!(3) && raw["syncing"] == json!(false);
                    ready.then_some(raw)
                }
            },
        )
        .await?;
        has_fields(
            &raw,
            &[
                "chainId",
                "genesisHash",
                "nodeId",
                "latestHeight",
                "latestHash",
                "latestTimeMs",
                "syncing",
                "peers",
                "validatorAddress",
                "version",
            ],
        )?;
        let status: RpcNodeStatus = serde_json::from_value(raw)?;
        ensure!(
            status.chain_id == devnet.chain_id,
            "node {index}: {status:?}"
        );
        ensure!(
            status.version == env!("CARGO_PKG_VERSION"),
            "node {index}: version {}",
            status.version
        );
        let address = status
            .validator_address
            .ok_or_else(|| format!("node {index} says it is no validator"))?;
        ensure!(
            set_addresses.contains(&address),
            "node {index}: {address} is not in the validator set"
        );
        let header = header_at(&client, status.latest_height).await?;
        ensure!(
            header.hash == status.latest_hash && header.time_ms == status.latest_time_ms,
            "node {index}: latest {status:?} but header {header:?}"
        );
        let first = header_at(&client, 1).await?;
        ensure!(
            first.prev_hash == status.genesis_hash,
            "node {index}: block 1 does not follow genesis {}",
            status.genesis_hash
        );
        genesis_hashes.insert(status.genesis_hash);
        node_ids.insert(status.node_id);
        validator_addresses.insert(address);
    }
    ensure!(
        genesis_hashes.len() == 1,
        "genesis hashes: {genesis_hashes:?}"
    );
    ensure!(node_ids.len() == 4, "node ids: {node_ids:?}");
    ensure!(validator_addresses.len() == 4, "{validator_addresses:?}");
    Ok(())
}

/// What [`submit_and_follow`] committed, for the later steps to read back.
#[derive(Debug)]
struct Sent {
    receipt: RpcReceipt,
    sender: Address,
    recipient: Address,
    amount: u64,
}

/// `tx_submit` of a transfer to a new account, committed as every node's `tx_get` sees it;
/// `tx_get` of an unknown hash; `tx_submitBatch` with one good, one malformed and one duplicate.
async fn submit_and_follow(devnet: &Devnet) -> Result<Sent> {
    let recipient = Address([0x5a; 20]);
    let amount = 1_000;
    let tx = devnet.transfer_hex(0, recipient, amount, 0)?;
    let expected = tx_hash(&tx)?;
    let node0 = client(devnet, 0)?;
    let hash = call(&node0, "tx_submit", vec![json!(tx)]).await?;
    ensure!(
        hash == json!(expected.to_string()),
        "tx_submit answered {hash}, the transaction hashes to {expected}"
    );
    // Pending or already committed: a 200 ms block time decides, not the API.
    let status: RpcTxStatus =
        serde_json::from_value(call(&node0, "tx_get", vec![hash.clone()]).await?)?;
    ensure!(
        matches!(status, RpcTxStatus::Pending | RpcTxStatus::Committed(_)),
        "right after tx_submit: {status:?}"
    );
    let mut receipts = Vec::new();
    for index in 0..4 {
        receipts.push(committed(devnet, index, expected).await?);
    }
    let receipt = receipts[0].clone();
    ensure!(
        receipts.iter().all(|r| *r == receipt),
        "nodes disagree on the receipt: {receipts:?}"
    );
    let sender = devnet.accounts[0].0;
    ensure!(
        receipt.tx_hash == expected
            && receipt.sender == sender
            && receipt.nonce == 0
            && receipt.fee_paid == 1
            && receipt.height >= 1,
        "receipt {receipt:?}"
    );
    let raw = call(&node0, "tx_get", vec![hash]).await?;
    ensure!(
        raw["status"] == "committed" && raw["feePaid"] == "1",
        "a committed tx_get with its fee as a decimal string: {raw}"
    );

    let unknown = call(
        &node0,
        "tx_get",
        vec![json!(Hash::digest(b"never submitted").to_string())],
    )
    .await?;
    ensure!(unknown == json!({ "status": "unknown" }), "{unknown}");

    // A batch through another node: one result per transaction, in order.
    let node2 = client(devnet, 2)?;
    let good = devnet.transfer_hex(3, Address([0x5b; 20]), 2_000, 0)?;
    let answer = call(
        &node2,
        "tx_submitBatch",
        vec![json!([good.clone(), "0x0102", good.clone()])],
    )
    .await?;
    let results: Vec<RpcSubmitResult> = serde_json::from_value(answer.clone())?;
    let good_hash = tx_hash(&good)?;
    match results.as_slice() {
        [RpcSubmitResult::Accepted { hash }, RpcSubmitResult::Rejected { error: malformed }, RpcSubmitResult::Rejected { error: duplicate }] =>
        {
            ensure!(*hash == good_hash, "batch: {answer}");
            ensure!(
                malformed.code == codes::TX_ENCODING
                    && malformed.data == Some(json!({ "kind": "encoding" })),
                "batch: {answer}"
            );
            ensure!(
                duplicate.code == codes::TX_DUPLICATE
                    && duplicate.data == Some(json!({ "kind": "duplicate" })),
                "batch: {answer}"
            );
        }
        _ => return Err(format!("batch: {answer}").into()),
    }
    let batch_receipt = committed(devnet, 2, good_hash).await?;
    ensure!(batch_receipt.nonce == 0, "{batch_receipt:?}");
    Ok(Sent {
        receipt,
        sender,
        recipient,
        amount,
    })
}

/// Over one node's HTTP and WebSocket: a transaction behind a nonce gap is `pending` in
/// `tx_get` and `mempool_status`; a `tx_watch` on it stays quiet until `tx_submitAndWait` fills
/// the gap, then reports its commit; retrying `tx_submitAndWait` and watching a committed
/// transaction answer at once; `tx_submitAndWait` times out with -32030 and refuses a timeout
/// above the maximum.
async fn wait_and_watch(devnet: &Devnet) -> Result<()> {
    let node1 = client(devnet, 1)?;
    let patient = patient_client(devnet, 1)?;
    let ws = ws_client(1).await?;
    let sender = devnet.accounts[1].0;
    let to = Address([0x6b; 20]);

    let queued = devnet.transfer_hex(1, to, 300, 1)?;
    let queued_hash = tx_hash(&queued)?;
    let hash = call(&node1, "tx_submit", vec![json!(queued)]).await?;
    ensure!(hash == json!(queued_hash.to_string()), "{hash}");
    let status = call(&node1, "tx_get", vec![hash]).await?;
    ensure!(status == json!({ "status": "pending" }), "queued: {status}");
    let raw = call(&node1, "mempool_status", vec![]).await?;
    has_fields(&raw, &["count", "bytes", "maxCount", "maxBytes"])?;
    let pool: RpcMempoolStatus = serde_json::from_value(raw)?;
    ensure!(
        pool.count >= 1
            && pool.bytes >= hex_len(&queued)
            && pool.count <= pool.max_count
            && pool.bytes <= pool.max_bytes,
        "{pool:?}"
    );

    let mut watch = ws.watch(HexHash(queued_hash)).await?;
    let early = tokio::time::timeout(Duration::from_secs(1), watch.next()).await;
    ensure!(
        early.is_err(),
        "tx_watch spoke before the transaction could commit: {early:?}"
    );

    let first = devnet.transfer_hex(1, to, 200, 0)?;
    let first_hash = tx_hash(&first)?;
    let receipt: RpcReceipt = serde_json::from_value(
        call(
            &patient,
            "tx_submitAndWait",
            vec![json!(first), json!(60_000)],
        )
        .await?,
    )?;
    ensure!(
        receipt.tx_hash == first_hash && receipt.sender == sender && receipt.nonce == 0,
        "{receipt:?}"
    );
    let watched = next_item(&mut watch).await?;
    ensure!(
        watched.tx_hash == queued_hash
            && watched.sender == sender
            && watched.nonce == 1
            && watched.height >= receipt.height,
        "watched {watched:?} after {receipt:?}"
    );
    let status: RpcTxStatus = serde_json::from_value(
        call(&node1, "tx_get", vec![json!(queued_hash.to_string())]).await?,
    )?;
    ensure!(
        status == RpcTxStatus::Committed(watched.clone()),
        "tx_get {status:?}, tx_watch {watched:?}"
    );

    // Retrying is safe: a committed transaction's receipt at once.
    let again: RpcReceipt = serde_json::from_value(
        call(
            &patient,
            "tx_submitAndWait",
            vec![json!(first), json!(5_000)],
        )
        .await?,
    )?;
    ensure!(again == receipt, "retry {again:?} vs {receipt:?}");
    // Watching a committed transaction reports it at once.
    let mut late = ws.watch(HexHash(first_hash)).await?;
    let late_receipt = next_item(&mut late).await?;
    ensure!(late_receipt == receipt, "{late_receipt:?} vs {receipt:?}");

    // Behind a nonce gap nothing commits: the wait times out with the hash.
    let stuck = devnet.transfer_hex(2, to, 100, 5)?;
    let stuck_hash = tx_hash(&stuck)?;
    let (code, data) =
        rpc_error(call(&node1, "tx_submitAndWait", vec![json!(stuck), json!(300)]).await)?;
    ensure!(code == codes::TIMEOUT, "code {code}, data {data}");
    ensure!(
        data["txHash"] == json!(stuck_hash.to_string())
            && data["waitedMs"].as_u64().is_some_and(|ms| ms >= 300),
        "timeout data {data}"
    );
    let status = call(&node1, "tx_get", vec![json!(stuck_hash.to_string())]).await?;
    ensure!(status == json!({ "status": "pending" }), "stuck: {status}");
    // A watch that would wait for ever is given up with tx_unwatch.
    ws.watch(HexHash(stuck_hash)).await?.unsubscribe().await?;
    let (code, data) = rpc_error(
        call(
            &node1,
            "tx_submitAndWait",
            vec![json!(stuck), json!(120_001)],
        )
        .await,
    )?;
    ensure!(
        code == codes::INVALID_PARAMS,
        "timeoutMs too large: {code} {data}"
    );
    Ok(())
}

/// `chain_getBlock` (height and `"latest"`), `chain_getBlockByHash`, `chain_getHeader`,
/// `chain_getCommit` with its signatures checked against `chain_getValidators`, and the errors
/// for heights outside the chain.
async fn blocks_and_commits(devnet: &Devnet, sent: &Sent) -> Result<()> {
    let node0 = client(devnet, 0)?;
    let height = sent.receipt.height;
    let raw = call(&node0, "chain_getBlock", vec![json!(height)]).await?;
    has_fields(&raw, &["header", "transactions"])?;
    has_fields(
        &raw["header"],
        &[
            "hash",
            "chainId",
            "height",
            "timeMs",
            "prevHash",
            "txRoot",
            "stateRoot",
            "validatorSetHash",
            "proposer",
        ],
    )?;
    let block: RpcBlock = serde_json::from_value(raw.clone())?;
    // Every hash and the transactions root check out.
    block.to_block()?;
    ensure!(block.header.height == height, "{:?}", block.header);
    let index = usize::try_from(sent.receipt.index)?;
    let tx = block
        .transactions
        .get(index)
        .ok_or_else(|| format!("block {height} has no transaction {index}"))?;
    ensure!(
        tx.hash == sent.receipt.tx_hash
            && tx.sender == sent.sender
            && tx.nonce == 0
            && tx.fee == 1
            && tx.chain_id == devnet.chain_id
            && tx.payload
                == RpcPayload::Transfer {
                    to: sent.recipient,
                    amount: sent.amount,
                },
        "{tx:?}"
    );
    let raw_tx = &raw["transactions"][index];
    ensure!(
        raw_tx["fee"] == "1" && raw_tx["payload"]["amount"] == json!(sent.amount.to_string()),
        "amounts are decimal strings: {raw_tx}"
    );

    let by_hash: Option<RpcBlock> = serde_json::from_value(
        call(
            &node0,
            "chain_getBlockByHash",
            vec![json!(block.header.hash.to_string())],
        )
        .await?,
    )?;
    ensure!(by_hash.as_ref() == Some(&block), "by hash: {by_hash:?}");
    let none = call(
        &node0,
        "chain_getBlockByHash",
        vec![json!(Hash::digest(b"no such block").to_string())],
    )
    .await?;
    ensure!(none.is_null(), "an unknown hash: {none}");

    let header = header_at(&node0, height).await?;
    ensure!(header == block.header, "{header:?} vs {:?}", block.header);
    header.to_header()?;
    if height > 1 {
        let parent = header_at(&node0, height - 1).await?;
        ensure!(
            header.prev_hash == parent.hash,
            "{header:?} after {parent:?}"
        );
    }

    let tip = latest_height(&node0).await?;
    let latest: RpcBlock =
        serde_json::from_value(call(&node0, "chain_getBlock", vec![json!("latest")]).await?)?;
    latest.to_block()?;
    ensure!(
        latest.header.height >= tip,
        "latest {:?} below {tip}",
        latest.header
    );
    ensure!(
        header_at(&node0, latest.header.height).await? == latest.header,
        "\"latest\" is not the block at its height"
    );

    // The commit certifies the block, signed by more than 2/3 of the set deciding its height.
    let set: RpcValidatorSet =
        serde_json::from_value(call(&node0, "chain_getValidators", vec![json!(height)]).await?)?;
    ensure!(
        set.height == height && set.hash == header.validator_set_hash,
        "set {set:?} for {header:?}"
    );
    for index in 0..4 {
        let client = client(devnet, index)?;
        let commit = commit_at(&client, height).await?;
        ensure!(
            commit.height == height && commit.block_hash == header.hash,
            "node {index}: {commit:?} for {header:?}"
        );
        verify_commit(&devnet.chain_id, &commit, &set)?;
        if index == 0 {
            // A check that cannot fail proves nothing.
            let mut forged = commit.clone();
            if let Some(precommit) = forged.precommits.first_mut() {
                precommit.signature.0[0] ^= 1;
            }
            ensure!(
                verify_commit(&devnet.chain_id, &forged, &set).is_err(),
                "a forged precommit passed"
            );
        }
    }

    // By default the set deciding the next block; a trailing null is the same as none.
    for params in [vec![], vec![Value::Null]] {
        let before = latest_height(&node0).await?;
        let next: RpcValidatorSet =
            serde_json::from_value(call(&node0, "chain_getValidators", params).await?)?;
        ensure!(
            next.height > before && next.hash == set.hash && next.validators == set.validators,
            "next {next:?} after {before}"
        );
    }

    // Heights outside the chain.
    for (method, what) in [
        ("chain_getBlock", "block"),
        ("chain_getHeader", "header"),
        ("chain_getCommit", "commit"),
    ] {
        let (code, data) = rpc_error(call(&node0, method, vec![json!(0)]).await)?;
        ensure!(
            code == codes::NOT_FOUND && data["what"].is_string(),
            "{method}(0) for the genesis {what}: {code} {data}"
        );
    }
    let far = latest_height(&node0).await? + 1_000;
    for method in ["chain_getBlock", "chain_getHeader", "chain_getCommit"] {
        let (code, data) = rpc_error(call(&node0, method, vec![json!(far)]).await)?;
        ensure!(
            code == codes::HEIGHT_NOT_COMMITTED
                && data["height"] == json!(far)
                && data["latest"].as_u64().is_some_and(|latest| latest < far),
            "{method}({far}): {code} {data}"
        );
    }
    let (code, data) = rpc_error(call(&node0, "chain_getValidators", vec![json!(far)]).await)?;
    ensure!(
        code == codes::HEIGHT_NOT_COMMITTED,
        "chain_getValidators({far}): {code} {data}"
    );
    Ok(())
}

/// `state_getAccount` now, at past heights and for absent accounts; `state_getProof` verified with
/// `RpcAccountProof::verify` and the commit's signatures, present and absent, and at genesis.
async fn accounts_and_proofs(devnet: &Devnet, sent: &Sent) -> Result<()> {
    let node3 = client(devnet, 3)?;
    let height = sent.receipt.height;
    let sender = json!(sent.sender.to_string());
    let recipient = json!(sent.recipient.to_string());
    let absent = json!(Address([0x99; 20]).to_string());

    let genesis = account(&node3, sender.clone(), Some(0))
        .await?
        .ok_or("the funded account does not exist at genesis")?;
    ensure!(genesis.nonce == 0, "{genesis:?}");
    let raw = call(&node3, "state_getAccount", vec![sender.clone()]).await?;
    has_fields(&raw, &["balance", "nonce"])?;
    ensure!(
        raw["balance"].is_string(),
        "balance as a decimal string: {raw}"
    );
    let now: RpcAccount = serde_json::from_value(raw)?;
    let spent = sent.amount + sent.receipt.fee_paid;
    ensure!(
        now.nonce == 1 && Some(now.balance) == genesis.balance.checked_sub(spent),
        "now {now:?}, at genesis {genesis:?}, spent {spent}"
    );
    let before = account(&node3, sender.clone(), Some(height - 1)).await?;
    ensure!(before == Some(genesis), "before the transfer: {before:?}");
    let after = account(&node3, sender.clone(), Some(height)).await?;
    ensure!(after == Some(now), "after the transfer: {after:?}");
    let received = account(&node3, recipient.clone(), None).await?;
    ensure!(
        received
            == Some(RpcAccount {
                balance: sent.amount,
                nonce: 0
            }),
        "recipient {received:?}"
    );
    let not_yet = account(&node3, recipient.clone(), Some(height - 1)).await?;
    ensure!(
        not_yet.is_none(),
        "recipient before the transfer: {not_yet:?}"
    );
    for at in [None, Some(height)] {
        let nobody = account(&node3, absent.clone(), at).await?;
        ensure!(nobody.is_none(), "an absent account at {at:?}: {nobody:?}");
    }
    let far = latest_height(&node3).await? + 1_000;
    let (code, data) =
        rpc_error(call(&node3, "state_getAccount", vec![sender.clone(), json!(far)]).await)?;
    ensure!(
        code == codes::HEIGHT_NOT_COMMITTED && data["height"] == json!(far),
        "state_getAccount at {far}: {code} {data}"
    );

    // The latest proof, checked end to end: Merkle path, header, commit and its signatures.
    let raw = call(&node3, "state_getProof", vec![sender.clone()]).await?;
    has_fields(
        &raw,
        &[
            "address",
            "height",
            "stateRoot",
            "stateKey",
            "account",
            "proof",
            "header",
            "commit",
        ],
    )?;
    let proof: RpcAccountProof = serde_json::from_value(raw)?;
    ensure!(proof.address == sent.sender, "{proof:?}");
    let proven = proof.verify()?;
    ensure!(
        proven.map(RpcAccount::from) == Some(now),
        "proven {proven:?}, state_getAccount {now:?}"
    );
    verify_proof_commit(devnet, &node3, &proof).await?;
    let mut lying = proof.clone();
    if let Some(account) = lying.account.as_mut() {
        account.balance += 1;
    }
    ensure!(
        lying.verify().is_err(),
        "a proof claiming another balance verified"
    );

    // At the transfer's height, the recipient exists; just before, it is proven absent.
    let at: RpcAccountProof = serde_json::from_value(
        call(
            &node3,
            "state_getProof",
            vec![recipient.clone(), json!(height)],
        )
        .await?,
    )?;
    ensure!(at.height == height, "{at:?}");
    ensure!(
        at.verify()?.map(RpcAccount::from) == received,
        "recipient's proof at {height}: {at:?}"
    );
    verify_proof_commit(devnet, &node3, &at).await?;
    if height > 1 {
        let before: RpcAccountProof = serde_json::from_value(
            call(&node3, "state_getProof", vec![recipient, json!(height - 1)]).await?,
        )?;
        ensure!(
            before.account.is_none() && before.verify()?.is_none(),
            "recipient's proof before the transfer: {before:?}"
        );
    }
    let nobody: RpcAccountProof =
        serde_json::from_value(call(&node3, "state_getProof", vec![absent]).await?)?;
    ensure!(
        nobody.account.is_none() && nobody.verify()?.is_none(),
        "an absent account's proof: {nobody:?}"
    );

    // Genesis: a state, no header, no commit.
    let at_genesis: RpcAccountProof =
        serde_json::from_value(call(&node3, "state_getProof", vec![sender, json!(0)]).await?)?;
    ensure!(
        at_genesis.header.is_none() && at_genesis.commit.is_none(),
        "{at_genesis:?}"
    );
    ensure!(
        at_genesis.verify()?.map(RpcAccount::from) == Some(genesis),
        "genesis proof {at_genesis:?}"
    );
    Ok(())
}

/// `chain_subscribeNewHeads` over WebSocket: two consecutive heads that chain and hash right and
/// that another node serves too; then unsubscribing, and a plain call on the same connection.
async fn new_heads(devnet: &Devnet) -> Result<()> {
    let ws = ws_client(3).await?;
    let mut heads = ws.subscribe_new_heads().await?;
    let first = next_item(&mut heads).await?;
    let second = next_item(&mut heads).await?;
    ensure!(
        second.height == first.height + 1 && second.prev_hash == first.hash,
        "not consecutive: {first:?} then {second:?}"
    );
    first.to_header()?;
    second.to_header()?;
    ensure!(
        first.chain_id == devnet.chain_id,
        "head of another chain: {first:?}"
    );
    wait_height(devnet, 0, second.height).await?;
    let elsewhere = header_at(&client(devnet, 0)?, second.height).await?;
    ensure!(
        elsewhere == second,
        "node 0 has {elsewhere:?}, node 3 sent {second:?}"
    );
    heads.unsubscribe().await?;
    let status = ws.node_status().await?;
    ensure!(status.latest_height >= second.height, "{status:?}");
    Ok(())
}

/// `rpc.discover`: an OpenRPC document listing exactly the documented methods and every
/// documented error code, each method's error references resolving.
async fn discover(devnet: &Devnet) -> Result<()> {
    let doc = call(&client(devnet, 0)?, "rpc.discover", vec![]).await?;
    ensure!(
        doc["openrpc"] == "1.3.2",
        "openrpc version: {}",
        doc["openrpc"]
    );
    let methods = doc["methods"].as_array().ok_or("no methods")?;
    let names: BTreeSet<&str> = methods
        .iter()
        .filter_map(|method| method["name"].as_str())
        .collect();
    let documented: BTreeSet<&str> = DOCUMENTED_METHODS.into_iter().collect();
    ensure!(
        names == documented,
        "served but not documented: {:?}; documented but not served: {:?}",
        names.difference(&documented).collect::<Vec<_>>(),
        documented.difference(&names).collect::<Vec<_>>()
    );
    let errors = doc["components"]["errors"]
        .as_object()
        .ok_or("no components.errors")?;
    let served_codes: BTreeSet<i64> = errors
        .values()
        .filter_map(|error| error["code"].as_i64())
        .collect();
    let missing: Vec<i32> = DOCUMENTED_CODES
        .into_iter()
        .filter(|code| !served_codes.contains(&i64::from(*code)))
        .collect();
    ensure!(
        missing.is_empty(),
        "codes not in components.errors: {missing:?}"
    );
    for method in methods {
        for reference in method["errors"].as_array().into_iter().flatten() {
            let name = reference["$ref"]
                .as_str()
                .and_then(|r| r.strip_prefix("#/components/errors/"))
                .ok_or_else(|| format!("{}: bad error reference {reference}", method["name"]))?;
            ensure!(
                errors.contains_key(name),
                "{}: {name} is not in components.errors",
                method["name"]
            );
        }
    }
    Ok(())
}

/// Bad input of every kind on one node, each answered with its documented code; the node then
/// still answers, the chain still advances and a good transaction still commits through it.
async fn bad_input(devnet: &Devnet) -> Result<()> {
    const NODE: usize = 2;
    let node = client(devnet, NODE)?;
    let port = port(NODE);

    // Protocol and parameter errors, over raw HTTP.
    for (body, expected_status, expected_code) in MALFORMED_REQUESTS {
        let (status, answer) = post_json(port, body).await?;
        ensure!(
            answer["error"]["code"] == json!(expected_code) && status == *expected_status,
            "{body:?} -> HTTP {status} {answer}, expected HTTP {expected_status} code {expected_code}"
        );
    }

    // A body above max_request_bytes (1 MiB).
    let huge = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tx_submit","params":["0x{}"]}}"#,
        "00".repeat(600 * 1024)
    );
    let (status, answer) = post_json(port, &huge).await?;
    ensure!(
        status == 413 && answer["error"]["code"] == codes::OVERSIZED_REQUEST,
        "oversize body -> HTTP {status} {answer}"
    );

    // Batches: above max_batch_size (100) refused whole; a small one answered call by call.
    let status_call =
        |id: usize| json!({ "jsonrpc": "2.0", "id": id, "method": "node_status", "params": [] });
    let too_many = Value::Array((0..101).map(status_call).collect()).to_string();
    let (_, answer) = post_json(port, &too_many).await?;
    ensure!(
        answer["error"]["code"] == codes::BATCH_TOO_LARGE,
        "a batch of 101 -> {answer}"
    );
    let (_, answer) = post_json(
        port,
        &Value::Array((0..3).map(status_call).collect()).to_string(),
    )
    .await?;
    let answers = answer
        .as_array()
        .ok_or_else(|| format!("a batch of 3 -> {answer}"))?;
    let ids: BTreeSet<u64> = answers.iter().filter_map(|a| a["id"].as_u64()).collect();
    ensure!(
        answers.len() == 3
            && ids == BTreeSet::from([0, 1, 2])
            && answers
                .iter()
                .all(|a| a["result"]["chainId"] == json!(devnet.chain_id)),
        "a batch of 3 -> {answer}"
    );
    let many_txs = vec!["0x00"; 101];
    let (code, data) = rpc_error(call(&node, "tx_submitBatch", vec![json!(many_txs)]).await)?;
    ensure!(
        code == codes::INVALID_PARAMS,
        "tx_submitBatch of 101: {code} {data}"
    );

    // Transactions refused, each with its code and kind.
    let to = Address([0x7c; 20]);
    let mut bad_signature = hex_bytes(&devnet.transfer_hex(6, to, 10, 0)?)?;
    let signature_at = bad_signature
        .len()
        .checked_sub(64)
        .ok_or("a transaction shorter than its signature")?;
    bad_signature[signature_at] ^= 0x01;
    let bad_signature = format!("0x{}", hex::encode(bad_signature));
    let wrong_chain = sign_transfer(devnet, 5, "other-chain", to, 10, 0, 1)?;
    let nonce_too_low = devnet.transfer_hex(0, to, 999, 0)?;
    let far_ahead = devnet.transfer_hex(7, to, 10, 1_000)?;
    let too_expensive = devnet.transfer_hex(7, to, u64::MAX - 1, 0)?;
    let pooled = devnet.transfer_hex(8, to, 10, 3)?;
    call(&node, "tx_submit", vec![json!(pooled)]).await?;
    let same_nonce_same_fee = devnet.transfer_hex(8, to, 11, 3)?;
    let not_a_tx = format!("0x{}", "00".repeat(40));
    let too_large = format!("0x{}", "00".repeat(2048));
    let rejections: [(&str, &String, i32, &str); 9] = [
        (
            "not a transaction",
            &not_a_tx,
            codes::TX_ENCODING,
            "encoding",
        ),
        ("too large", &too_large, codes::TX_ENCODING, "encoding"),
        (
            "bad signature",
            &bad_signature,
            codes::TX_SIGNATURE,
            "signature",
        ),
        (
            "wrong chain",
            &wrong_chain,
            codes::TX_WRONG_CHAIN,
            "wrongChain",
        ),
        (
            "nonce too low",
            &nonce_too_low,
            codes::TX_NONCE_TOO_LOW,
            "nonceTooLow",
        ),
        (
            "nonce far ahead",
            &far_ahead,
            codes::TX_NONCE_TOO_FAR_AHEAD,
            "nonceTooFarAhead",
        ),
        (
            "insufficient balance",
            &too_expensive,
            codes::TX_INSUFFICIENT_BALANCE,
            "insufficientBalance",
        ),
        ("duplicate", &pooled, codes::TX_DUPLICATE, "duplicate"),
        (
            "underpriced",
            &same_nonce_same_fee,
            codes::TX_UNDERPRICED,
            "underpriced",
        ),
    ];
    for (what, tx, expected_code, kind) in rejections {
        let (code, data) = rpc_error(call(&node, "tx_submit", vec![json!(tx)]).await)?;
        ensure!(
            code == expected_code && data == json!({ "kind": kind }),
            "{what}: {code} {data}, expected {expected_code} {kind}"
        );
    }
    for (what, tx) in [
        ("bad signature", &bad_signature),
        ("wrong chain", &wrong_chain),
        ("nonce too low", &nonce_too_low),
    ] {
        let status = call(&node, "tx_get", vec![json!(tx_hash(tx)?.to_string())]).await?;
        ensure!(
            status == json!({ "status": "unknown" }),
            "{what} was kept: {status}"
        );
    }

    // Still serving, still advancing, still committing.
    let status: RpcNodeStatus = serde_json::from_value(call(&node, "node_status", vec![]).await?)?;
    wait_height(devnet, NODE, status.latest_height + 2).await?;
    let good = devnet.transfer_hex(5, to, 10, 0)?;
    let receipt: RpcReceipt = serde_json::from_value(
        call(
            &patient_client(devnet, NODE)?,
            "tx_submitAndWait",
            vec![json!(good), json!(60_000)],
        )
        .await?,
    )?;
    ensure!(receipt.tx_hash == tx_hash(&good)?, "{receipt:?}");
    let (status, body, _) = raw_http(port, "GET", "/health", "", b"").await?;
    ensure!(
        status == 200 && body == b"ok",
        "/health after bad input: {status}"
    );
    Ok(())
}

/// Every node reaches the same height and has the same block at every height up to it.
async fn everyone_agrees(devnet: &Devnet) -> Result<()> {
    let top = latest_height(&client(devnet, 0)?).await?;
    let mut hashes = Vec::new();
    for index in 0..4 {
        wait_height(devnet, index, top).await?;
        let client = client(devnet, index)?;
        let mut chain = Vec::new();
        for height in 1..=top {
            chain.push(header_at(&client, height).await?.hash);
        }
        hashes.push(chain);
    }
    ensure!(
        hashes.iter().all(|chain| *chain == hashes[0]),
        "the nodes disagree below height {top}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn port(index: usize) -> u16 {
    BASE_PORT + u16::try_from(index).unwrap_or(u16::MAX)
}

fn client(devnet: &Devnet, index: usize) -> Result<HttpClient> {
    devnet
        .nodes
        .get(index)
        .ok_or_else(|| format!("no node {index}"))?
        .client()
}

/// An HTTP client that waits long enough for `tx_submitAndWait`.
fn patient_client(devnet: &Devnet, index: usize) -> Result<HttpClient> {
    let node = devnet.nodes.get(index).ok_or("no such node")?;
    Ok(HttpClientBuilder::default()
        .request_timeout(WAIT)
        .build(&node.rpc_url)?)
}

async fn ws_client(index: usize) -> Result<WsClient> {
    let url = format!("ws://127.0.0.1:{}", port(index));
    Ok(tokio::time::timeout(ANSWER, WsClientBuilder::default().build(&url)).await??)
}

/// The next notification of a subscription, within [`WAIT`].
async fn next_item<T: DeserializeOwned>(subscription: &mut Subscription<T>) -> Result<T> {
    tokio::time::timeout(WAIT, subscription.next())
        .await
        .map_err(|_| "no notification in time")?
        .ok_or("the subscription ended")?
        .map_err(Into::into)
}

async fn latest_height(client: &HttpClient) -> Result<u64> {
    let status = call(client, "node_status", vec![]).await?;
    status["latestHeight"]
        .as_u64()
        .ok_or_else(|| format!("no latestHeight in {status}").into())
}

async fn wait_height(devnet: &Devnet, index: usize, at_least: u64) -> Result<u64> {
    let client = client(devnet, index)?;
    wait_for(
        &format!("node {index} to reach height {at_least}"),
        WAIT,
        || {
            let client = client.clone();
            async move { latest_height(&client).await.ok().filter(|h| *h >= at_least) }
        },
    )
    .await
}

/// Waits for node `index` to report `hash` committed, and returns its receipt.
async fn committed(devnet: &Devnet, index: usize, hash: Hash) -> Result<RpcReceipt> {
    let client = client(devnet, index)?;
    let hash = json!(hash.to_string());
    wait_for(&format!("node {index} to commit {hash}"), WAIT, || {
        let client = client.clone();
        let hash = hash.clone();
        async move {
            let status = call(&client, "tx_get", vec![hash]).await.ok()?;
            match serde_json::from_value(status).ok()? {
                RpcTxStatus::Committed(receipt) => Some(receipt),
                RpcTxStatus::Pending | RpcTxStatus::Unknown => None,
            }
        }
    })
    .await
}

async fn header_at(client: &HttpClient, height: u64) -> Result<RpcHeader> {
    let header = call(client, "chain_getHeader", vec![json!(height)]).await?;
    Ok(serde_json::from_value(header)?)
}

async fn commit_at(client: &HttpClient, height: u64) -> Result<RpcCommit> {
    let commit = call(client, "chain_getCommit", vec![json!(height)]).await?;
    Ok(serde_json::from_value(commit)?)
}

async fn account(
    client: &HttpClient,
    address: Value,
    height: Option<u64>,
) -> Result<Option<RpcAccount>> {
    let mut params = vec![address];
    params.extend(height.map(|h| json!(h)));
    Ok(serde_json::from_value(
        call(client, "state_getAccount", params).await?,
    )?)
}

/// The JSON-RPC error of a call that must fail: its code and its `data` (`null` if none).
fn rpc_error(result: Result<Value>) -> Result<(i32, Value)> {
    let error = match result {
        Ok(value) => return Err(format!("expected an error, got {value}").into()),
        Err(error) => error,
    };
    match error.downcast_ref::<ClientError>() {
        Some(ClientError::Call(object)) => {
            let data = match object.data() {
                Some(raw) => serde_json::from_str(raw.get())?,
                None => Value::Null,
            };
            Ok((object.code(), data))
        }
        _ => Err(format!("expected a JSON-RPC error object, got {error}").into()),
    }
}

/// Fails unless `value` is an object carrying every one of `fields` (`null` counts).
fn has_fields(value: &Value, fields: &[&str]) -> Result<()> {
    let object = value
        .as_object()
        .ok_or_else(|| format!("not an object: {value}"))?;
    let missing: Vec<&&str> = fields
        .iter()
        .filter(|f| !object.contains_key(**f))
        .collect();
    ensure!(missing.is_empty(), "{missing:?} missing from {value}");
    Ok(())
}

fn hex_bytes(text: &str) -> Result<Vec<u8>> {
    Ok(hex::decode(text.strip_prefix("0x").unwrap_or(text))?)
}

fn hex_len(text: &str) -> u64 {
    u64::try_from(text.trim_start_matches("0x").len() / 2).unwrap_or(u64::MAX)
}

/// The hash the node must give a transaction: SHA-256 of its bytes.
fn tx_hash(tx_hex: &str) -> Result<Hash> {
    Ok(SignedTransaction::decode(&hex_bytes(tx_hex)?)?.hash())
}

/// A transfer from funded account `from`, signed for `chain_id`.
fn sign_transfer(
    devnet: &Devnet,
    from: usize,
    chain_id: &str,
    to: Address,
    amount: u64,
    nonce: u64,
    fee: u64,
) -> Result<String> {
    let (_, key) = devnet.accounts.get(from).ok_or("no such account")?;
    let tx = Transaction {
        chain_id: chain_id.to_string(),
        signer: key.public_key(),
        nonce,
        fee,
        payload: Payload::Transfer { to, amount },
    }
    .sign(key);
    Ok(format!("0x{}", hex::encode(tx.encode())))
}

/// Checks a commit certificate the way a light client would: every precommit is a member's valid
/// signature of a precommit for (height, round, block hash), and the signers hold more than 2/3
/// of the set's voting power.
fn verify_commit(chain_id: &str, commit: &RpcCommit, set: &RpcValidatorSet) -> Result<()> {
    let total: u128 = set
        .validators
        .iter()
        .map(|v| u128::from(v.voting_power))
        .sum();
    let mut signers = HashSet::new();
    let mut signed_power: u128 = 0;
    for precommit in &commit.precommits {
        let validator = set
            .validators
            .iter()
            .find(|v| v.public_key == precommit.validator)
            .ok_or_else(|| format!("{} is not in the set", precommit.validator))?;
        let vote = Vote::<CairnContext> {
            height: commit.height,
            round: Round(commit.round),
            vote_type: VoteType::Precommit,
            value: Some(commit.block_hash.0),
            validator: precommit.validator,
        };
        ensure!(
            precommit
                .validator
                .verify(&vote_sign_bytes(chain_id, &vote), &precommit.signature),
            "the precommit of {} at height {} does not verify",
            precommit.validator,
            commit.height
        );
        if signers.insert(precommit.validator) {
            signed_power += u128::from(validator.voting_power);
        }
    }
    ensure!(
        signed_power * 3 > total * 2,
        "the commit at {} carries {signed_power} of {total} voting power",
        commit.height
    );
    Ok(())
}

/// The commit of a proof checked against the validator set of its height.
async fn verify_proof_commit(
    devnet: &Devnet,
    client: &HttpClient,
    proof: &RpcAccountProof,
) -> Result<()> {
    let (Some(header), Some(commit)) = (&proof.header, &proof.commit) else {
        return Err(format!("a proof at {} without header or commit", proof.height).into());
    };
    let set: RpcValidatorSet = serde_json::from_value(
        call(client, "chain_getValidators", vec![json!(proof.height)]).await?,
    )?;
    ensure!(
        set.hash == header.validator_set_hash,
        "the set at {} is not the header's",
        proof.height
    );
    verify_commit(&devnet.chain_id, commit, &set)
}

/// One HTTP/1.1 exchange over a fresh connection: (status, body, head). A server may answer
/// before it has read the whole body (413), so a failed write is not an error by itself.
async fn raw_http(
    port: u16,
    method: &str,
    path: &str,
    headers: &str,
    body: &[u8],
) -> Result<(u16, Vec<u8>, String)> {
    let exchange = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await?;
        let _ = stream.write_all(body).await;
        let mut response = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) => break,
                Ok(n) => response.extend_from_slice(&chunk[..n]),
                Err(error) if response.is_empty() => return Err(error.into()),
                Err(_) => break,
            }
        }
        let split = response
            .windows(4)
            .position(|window| window == b"\r\n\r\n")
            .ok_or_else(|| {
                format!(
                    "no end of headers in {:?}",
                    String::from_utf8_lossy(&response)
                )
            })?;
        let head = String::from_utf8_lossy(&response[..split]).into_owned();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| format!("no status in {head}"))?;
        Ok::<_, cairn_tests::Error>((status, response[split + 4..].to_vec(), head))
    };
    tokio::time::timeout(ANSWER, exchange)
        .await
        .map_err(|_| format!("{method} {path} on port {port} timed out"))?
}

/// POSTs `body` as JSON; the HTTP status and the JSON answer.
async fn post_json(port: u16, body: &str) -> Result<(u16, Value)> {
    let (status, bytes, head) = raw_http(
        port,
        "POST",
        "/",
        "Content-Type: application/json\r\n",
        body.as_bytes(),
    )
    .await?;
    let answer = serde_json::from_slice(&bytes).map_err(|error| {
        format!(
            "HTTP {status}: not JSON ({error}): {head}\r\n\r\n{}",
            String::from_utf8_lossy(&bytes)
        )
    })?;
    Ok((status, answer))
}
