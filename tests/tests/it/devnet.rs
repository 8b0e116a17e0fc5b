//! The node issue's acceptance, on a 4-validator devnet of real processes: agreement, transactions
//! committed everywhere, a validator killed and restarted, two of four killed, a torn
//! write-ahead-log tail.

use std::{collections::HashSet, time::Duration};

use cairn_tests::{call, exclusive, wait_for, Devnet, Result};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(90);

async fn height(devnet: &Devnet, index: usize) -> Option<u64> {
    let client = devnet.nodes.get(index)?.client().ok()?;
    let status = call(&client, "node_status", vec![]).await.ok()?;
    status.get("latestHeight")?.as_u64()
}

async fn wait_height(devnet: &Devnet, index: usize, at_least: u64) -> Result<u64> {
    wait_for(
        &format!("node {index} to reach height {at_least}"),
        WAIT,
        || async move { height(devnet, index).await.filter(|h| *h >= at_least) },
    )
    .await
}

async fn header_hash(devnet: &Devnet, index: usize, height: u64) -> Result<String> {
    let client = devnet.nodes[index].client()?;
    let header = call(&client, "chain_getHeader", vec![json!(height)]).await?;
    header
        .get("hash")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| format!("node {index} has no header at {height}: {header}").into())
}

/// Every listed node has the same block hash at every height from 1 to `up_to`.
async fn assert_agreement(devnet: &Devnet, nodes: &[usize], up_to: u64) -> Result<()> {
    for height in 1..=up_to {
        let mut hashes = HashSet::new();
        for &index in nodes {
            hashes.insert(header_hash(devnet, index, height).await?);
        }
        if hashes.len() != 1 {
            return Err(format!("fork at height {height}: {hashes:?}").into());
        }
    }
    Ok(())
}

fn no_equivocation(devnet: &Devnet) -> Result<()> {
    for node in &devnet.nodes {
        let log = std::fs::read_to_string(node.log_path())?;
        if log.contains("equivocation evidence") {
            return Err(format!("node {} saw equivocation", node.index).into());
        }
    }
    Ok(())
}

/// Runs a scenario, dumping the nodes' logs if it fails.
async fn scenario(
    devnet: &mut Devnet,
    body: impl AsyncFnOnce(&mut Devnet) -> Result<()>,
) -> Result<()> {
    let result = body(devnet).await;
    if result.is_err() {
        devnet.dump_logs(40);
    }
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_validators_agree_and_commit_transactions_sent_to_any_node() -> Result<()> {
    let _guard = exclusive().await;
    let mut devnet = Devnet::start(4, 21000)?;
    scenario(&mut devnet, async |devnet| {
        for index in 0..4 {
            wait_height(devnet, index, 3).await?;
        }
        // One transfer through each node, from a different account each.
        let mut hashes = Vec::new();
        for index in 0..4 {
            let to = devnet.accounts[8 + index].0;
            let tx = devnet.transfer_hex(index, to, 1_000 + index as u64, 0)?;
            let client = devnet.nodes[index].client()?;
            let hash = call(&client, "tx_submit", vec![json!(tx)]).await?;
            hashes.push(hash);
        }
        // Committed, as every node sees it.
        for hash in &hashes {
            for index in 0..4 {
                let client = devnet.nodes[index].client()?;
                wait_for("the transfer to commit", WAIT, || {
                    let client = client.clone();
                    async move {
                        let status = call(&client, "tx_get", vec![hash.clone()]).await.ok()?;
                        (status.get("status")?.as_str()? == "committed").then_some(())
                    }
                })
                .await?;
            }
        }
        for index in 0..4 {
            let to = devnet.accounts[8 + index].0.to_string();
            let mut balances = HashSet::new();
            for node in 0..4 {
                let client = devnet.nodes[node].client()?;
                let account = call(&client, "state_getAccount", vec![json!(to)]).await?;
                balances.insert(account.to_string());
            }
            assert_eq!(balances.len(), 1, "nodes disagree on {to}: {balances:?}");
        }
        let top = height(devnet, 0).await.ok_or("no height")?;
        for index in 0..4 {
            wait_height(devnet, index, top).await?;
        }
        assert_agreement(devnet, &[0, 1, 2, 3], top).await?;
        no_equivocation(devnet)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_validator_catches_up_and_votes_again() -> Result<()> {
    let _guard = exclusive().await;
    let mut devnet = Devnet::start(4, 21100)?;
    scenario(&mut devnet, async |devnet| {
        wait_height(devnet, 0, 3).await?;
        devnet.kill_node(3)?;
        let at_kill = height(devnet, 0).await.ok_or("no height")?;
        // The other three keep finalizing.
        wait_height(devnet, 0, at_kill + 5).await?;
        devnet.start_node(3)?;
        let target = height(devnet, 0).await.ok_or("no height")?;
        wait_height(devnet, 3, target).await?;
        let log = std::fs::read_to_string(devnet.nodes[3].log_path())?;
        if !log.contains("synced=true") {
            return Err("node 3 caught up without block sync".into());
        }
        // It votes again: its precommit is in a later certificate.
        let validator = devnet.nodes[3].client()?;
        let status = call(&validator, "node_status", vec![]).await?;
        let own_address = status["validatorAddress"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let validators = call(&validator, "chain_getValidators", vec![]).await?;
        let own_key = validators["validators"]
            .as_array()
            .and_then(|list| {
                list.iter()
                    .find(|v| v["address"].as_str() == Some(own_address.as_str()))
            })
            .and_then(|v| v["publicKey"].as_str())
            .ok_or("node 3's key is not in the validator set")?
            .to_string();
        let client = devnet.nodes[0].client()?;
        let shared = &*devnet;
        wait_for("node 3's precommit in a certificate", WAIT, || {
            let client = client.clone();
            let own_key = own_key.clone();
            async move {
                let latest = height(shared, 0).await?;
                for h in (target + 1)..=latest {
                    let commit = call(&client, "chain_getCommit", vec![json!(h)])
                        .await
                        .ok()?;
                    let signed = commit["precommits"]
                        .as_array()?
                        .iter()
                        .any(|p| p["validator"].as_str() == Some(own_key.as_str()));
                    if signed {
                        return Some(());
                    }
                }
                None
            }
        })
        .await?;
        let top = height(devnet, 3).await.ok_or("no height")?;
        assert_agreement(devnet, &[0, 1, 2, 3], top).await?;
        no_equivocation(devnet)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_of_four_killed_halts_without_fork_and_resumes() -> Result<()> {
    let _guard = exclusive().await;
    let mut devnet = Devnet::start(4, 21200)?;
    scenario(&mut devnet, async |devnet| {
        wait_height(devnet, 0, 3).await?;
        devnet.kill_node(2)?;
        devnet.kill_node(3)?;
        // A height already voted on may still complete; nothing after it can.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let halted = height(devnet, 0).await.ok_or("no height")?;
        tokio::time::sleep(Duration::from_secs(5)).await;
        for index in [0, 1] {
            let now = height(devnet, index).await.ok_or("no height")?;
            if now > halted + 1 {
                return Err(format!("node {index} went on to {now} with half the power").into());
            }
        }
        let common = height(devnet, 1).await.ok_or("no height")?.min(halted);
        assert_agreement(devnet, &[0, 1], common).await?;
        devnet.start_node(2)?;
        devnet.start_node(3)?;
        for index in 0..4 {
            wait_height(devnet, index, halted + 3).await?;
        }
        assert_agreement(devnet, &[0, 1, 2, 3], halted + 3).await?;
        no_equivocation(devnet)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_restarted_from_a_torn_log_tail_recovers() -> Result<()> {
    let _guard = exclusive().await;
    let mut devnet = Devnet::start(4, 21300)?;
    scenario(&mut devnet, async |devnet| {
        wait_height(devnet, 1, 3).await?;
        devnet.kill_node(1)?;
        // Half a record header: what a crash in the middle of an append leaves.
        let wal = devnet.nodes[1].wal_path();
        let mut bytes = std::fs::read(&wal)?;
        bytes.extend_from_slice(&[0x2a, 0, 0, 0, 0xde, 0xad, 0xbe]);
        std::fs::write(&wal, bytes)?;
        devnet.start_node(1)?;
        let target = height(devnet, 0).await.ok_or("no height")? + 2;
        wait_height(devnet, 1, target).await?;
        let log = std::fs::read_to_string(devnet.nodes[1].log_path())?;
        if !log.contains("damaged tail") {
            return Err("the restarted node did not report the torn tail".into());
        }
        assert_agreement(devnet, &[0, 1, 2, 3], target).await?;
        no_equivocation(devnet)
    })
    .await
}
