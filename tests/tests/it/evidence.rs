//! Equivocation evidence from gossip to a block: a peer on the network publishes two conflicting
//! prevotes signed with a validator's key; the nodes detect the equivocation, and a later block
//! carries the evidence on every node.

use std::time::Duration;

use cairn_consensus::{encoding::vote_sign_bytes, Round, SignedVote, Vote, VoteType};
use cairn_node::{
    config::{read_node_key, P2pConfig},
    context::CairnContext,
    network::{NetCommand, NetSinks, Network, Topic},
    wire::{self, ConsensusGossip, GossipEnvelope, WireVote},
};
use cairn_tests::{call, exclusive, wait_for, Devnet, Result};
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};

const BASE_PORT: u16 = 21400;
const WAIT: Duration = Duration::from_secs(90);

async fn latest_height(devnet: &Devnet, index: usize) -> Option<u64> {
    let client = devnet.nodes.get(index)?.client().ok()?;
    let status = call(&client, "node_status", vec![]).await.ok()?;
    status.get("latestHeight")?.as_u64()
}

/// The first block from `from` on that carries evidence, as node `index` has it.
async fn block_with_evidence(devnet: &Devnet, index: usize, from: u64) -> Option<(u64, Value)> {
    let client = devnet.nodes.get(index)?.client().ok()?;
    let latest = latest_height(devnet, index).await?;
    for height in from..=latest {
        let block = call(&client, "chain_getBlock", vec![json!(height)])
            .await
            .ok()?;
        let evidence = block.get("evidence")?.as_array()?;
        if !evidence.is_empty() {
            return Some((height, Value::Array(evidence.clone())));
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_equivocation_ends_up_in_a_block_on_every_node() -> Result<()> {
    let _guard = exclusive().await;
    let mut devnet = Devnet::start(4, BASE_PORT)?;
    let result = inject_and_find(&mut devnet).await;
    if result.is_err() {
        devnet.dump_logs(40);
    }
    result
}

async fn inject_and_find(devnet: &mut Devnet) -> Result<()> {
    let net_dir = devnet.dir.path().join("net");
    wait_for("the chain to start", WAIT, || async {
        latest_height(devnet, 0).await.filter(|h| *h >= 2)
    })
    .await?;

    // A peer of our own, dialling node 0 like any node would.
    let node0_id = read_node_key(&devnet.nodes[0].home.join("node_key.json"))?
        .public()
        .to_peer_id();
    let config = P2pConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse()?],
        persistent_peers: vec![
            format!("/ip4/127.0.0.1/tcp/{}/p2p/{node0_id}", BASE_PORT + 100).parse()?,
        ],
        discovery: false,
        ..P2pConfig::default()
    };
    let (events, _events_rx) = mpsc::channel(16);
    let (network, handle) = Network::new(
        cairn_node::config::generate_node_key(),
        &devnet.chain_id,
        config,
        NetSinks {
            consensus: events.clone(),
            transactions: events.clone(),
            sync_server: events,
        },
    )?;
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(network.run(stop_rx));
    wait_for("our peer to connect", WAIT, || async {
        (handle.peer_count() > 0).then_some(())
    })
    .await?;
    // Gossip subscriptions are exchanged just after the connection.
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Validator 3 prevotes two different values in one slot, a little ahead of the chain so the
    // votes are still current when they arrive.
    let key = cairn_genesis::devnet::read_validator_key(
        &net_dir
            .join("validators")
            .join("3")
            .join("validator_key.json"),
    )?;
    let start = latest_height(devnet, 0).await.ok_or("no height")?;
    let target = start + 2;
    for value in [[0xaa; 32], [0xbb; 32]] {
        let vote = Vote::<CairnContext> {
            height: target,
            round: Round(0),
            vote_type: VoteType::Prevote,
            value: Some(value),
            validator: key.public_key(),
        };
        let signature = key.sign(&vote_sign_bytes::<CairnContext>(&devnet.chain_id, &vote));
        let envelope = GossipEnvelope {
            sent_at_ms: 1,
            payload: ConsensusGossip::Vote(WireVote::from(&SignedVote { vote, signature })),
        };
        handle
            .send(NetCommand::Publish {
                topic: Topic::Consensus,
                data: wire::encode(&envelope),
            })
            .await?;
    }

    let (height, evidence) = wait_for("a block with the evidence", WAIT, || async {
        block_with_evidence(devnet, 0, start).await
    })
    .await?;
    assert_eq!(evidence.as_array().map(Vec::len), Some(1), "{evidence}");
    // Every node has the same block there, evidence included.
    for index in 1..4 {
        let found = wait_for("the block on every node", WAIT, || async {
            block_with_evidence(devnet, index, height).await
        })
        .await?;
        assert_eq!(found, (height, evidence.clone()), "node {index}");
    }
    // And it is never included twice.
    let later = latest_height(devnet, 0).await.ok_or("no height")? + 4;
    wait_for("four more blocks", WAIT, || async {
        latest_height(devnet, 0).await.filter(|h| *h >= later)
    })
    .await?;
    if let Some((again, _)) = block_with_evidence(devnet, 0, height + 1).await {
        return Err(format!("evidence included again at height {again}").into());
    }
    let _ = stop.send(true);
    let _ = task.await;
    Ok(())
}
