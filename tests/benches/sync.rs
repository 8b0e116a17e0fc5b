//! Block sync catch-up speed against the live chain's block rate.
//!
//! Starts a 4-validator devnet with three validators running, lets the chain grow to
//! `CAIRN_SYNC_BLOCKS` heights (default 300) under a light transfer load, then starts the fourth and
//! times how fast it catches up by block sync. Prints both rates and their ratio (the target is at
//! least 10x). Needs the release binary: `cargo build --release --bin cairn` first, then
//! `cargo bench -p cairn-tests --bench sync`.

use std::time::{Duration, Instant};

use cairn_tests::{call, wait_for, Devnet, Result};
use serde_json::json;

async fn height(devnet: &Devnet, index: usize) -> Option<u64> {
    let client = devnet.nodes.get(index)?.client().ok()?;
    let status = call(&client, "node_status", vec![]).await.ok()?;
    status.get("latestHeight")?.as_u64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    // `cargo bench` passes --bench; nothing to parse.
    let blocks: u64 = std::env::var("CAIRN_SYNC_BLOCKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let mut devnet = Devnet::generate(4, 21500)?;
    for index in 0..3 {
        devnet.start_node(index)?;
    }
    let limit = Duration::from_secs(blocks.saturating_mul(2).max(120));
    wait_for("the chain to start", limit, || async {
        height(&devnet, 0).await.filter(|h| *h >= 1)
    })
    .await?;
    let live_start = Instant::now();
    let start_height = height(&devnet, 0).await.ok_or("no height")?;

    // A light load: one transfer per funded account every 200 ms, so blocks carry transactions.
    let mut nonce = 0u64;
    let mut sent = 0u64;
    loop {
        let current = height(&devnet, 0).await.unwrap_or(0);
        if current >= start_height + blocks {
            break;
        }
        if live_start.elapsed() > limit {
            return Err("the chain did not grow in time".into());
        }
        let client = devnet.nodes[(nonce % 3) as usize].client()?;
        let mut batch = Vec::new();
        for account in 0..devnet.accounts.len() {
            let to = devnet.accounts[(account + 1) % devnet.accounts.len()].0;
            batch.push(json!(devnet.transfer_hex(account, to, 1, nonce)?));
        }
        if call(&client, "tx_submitBatch", vec![json!(batch)])
            .await
            .is_ok()
        {
            sent += batch.len() as u64;
        }
        nonce += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let live_elapsed = live_start.elapsed();
    let target = height(&devnet, 0).await.ok_or("no height")?;
    let live_rate = (target - start_height) as f64 / live_elapsed.as_secs_f64();

    let sync_start = Instant::now();
    devnet.start_node(3)?;
    wait_for("node 3 to catch up", limit, || async {
        height(&devnet, 3).await.filter(|h| *h >= target)
    })
    .await?;
    let sync_elapsed = sync_start.elapsed();
    let sync_rate = target as f64 / sync_elapsed.as_secs_f64();

    println!("sync::catch_up/blocks={target}");
    println!("  transfers submitted while the chain grew: {sent}");
    println!(
        "  live chain: {:.2} blocks/s ({} blocks in {:.1} s)",
        live_rate,
        target - start_height,
        live_elapsed.as_secs_f64()
    );
    println!(
        "  block sync: {:.2} blocks/s ({target} blocks in {:.2} s, process start included)",
        sync_rate,
        sync_elapsed.as_secs_f64()
    );
    println!(
        "  ratio: {:.1}x (target: at least 10x)",
        sync_rate / live_rate
    );
    Ok(())
}
