//! Prometheus metrics and the `/metrics` endpoint.
//!
//! The endpoint answers `GET /metrics` (and `GET /`) with the text exposition format and anything
//! else with 404. It is a few lines over a TCP listener on purpose: one path, no bodies, requests
//! read with a size bound and a time bound, so a slow or hostile client cannot hold it.

use std::{net::SocketAddr, time::Duration};

use prometheus_client::{
    encoding::text::encode,
    metrics::{counter::Counter, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
    sync::watch,
};
use tracing::{debug, info};

use crate::error::NodeError;

/// Largest request head read.
const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// Time a client has to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Every metric the node exports.
#[derive(Debug)]
pub struct Metrics {
    pub height: Gauge,
    pub round: Gauge,
    pub peers: Gauge,
    pub mempool_transactions: Gauge,
    pub mempool_bytes: Gauge,
    pub committed_transactions: Counter,
    pub committed_blocks: Counter,
    pub synced_blocks: Counter,
    pub invalid_gossip: Counter,
    pub evidence: Counter,
    pub syncing: Gauge,
    pub block_interval_seconds: Histogram,
    pub propose_step_seconds: Histogram,
    pub prevote_step_seconds: Histogram,
    pub precommit_step_seconds: Histogram,
    pub block_execution_seconds: Histogram,
    pub block_commit_seconds: Histogram,
    pub signature_verification_seconds: Histogram,
}

fn seconds_buckets() -> Histogram {
    Histogram::new([
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

impl Metrics {
    #[allow(clippy::new_without_default)]
    pub fn new() -> Metrics {
        Metrics {
            block_interval_seconds: seconds_buckets(),
            propose_step_seconds: seconds_buckets(),
            prevote_step_seconds: seconds_buckets(),
            precommit_step_seconds: seconds_buckets(),
            block_execution_seconds: seconds_buckets(),
            block_commit_seconds: seconds_buckets(),
            signature_verification_seconds: seconds_buckets(),
            height: Gauge::default(),
            round: Gauge::default(),
            peers: Gauge::default(),
            mempool_transactions: Gauge::default(),
            mempool_bytes: Gauge::default(),
            committed_transactions: Counter::default(),
            committed_blocks: Counter::default(),
            synced_blocks: Counter::default(),
            invalid_gossip: Counter::default(),
            evidence: Counter::default(),
            syncing: Gauge::default(),
        }
    }

    /// A registry holding every metric, prefixed `cairn_`.
    pub fn registry(&self) -> Registry {
        let mut registry = Registry::with_prefix("cairn");
        registry.register("height", "Latest committed height", self.height.clone());
        registry.register(
            "round",
            "Consensus round of the height in progress",
            self.round.clone(),
        );
        registry.register("peers", "Connected peers", self.peers.clone());
        registry.register(
            "mempool_transactions",
            "Transactions in the mempool",
            self.mempool_transactions.clone(),
        );
        registry.register(
            "mempool_bytes",
            "Encoded bytes of the mempool's transactions",
            self.mempool_bytes.clone(),
        );
        registry.register(
            "committed_transactions",
            "Transactions in committed blocks",
            self.committed_transactions.clone(),
        );
        registry.register(
            "committed_blocks",
            "Blocks committed",
            self.committed_blocks.clone(),
        );
        registry.register(
            "synced_blocks",
            "Blocks committed by block sync",
            self.synced_blocks.clone(),
        );
        registry.register(
            "invalid_gossip",
            "Gossip messages rejected as invalid",
            self.invalid_gossip.clone(),
        );
        registry.register(
            "evidence",
            "Equivocation evidence seen",
            self.evidence.clone(),
        );
        registry.register(
            "syncing",
            "1 while catching up by block sync",
            self.syncing.clone(),
        );
        for (name, help, histogram) in [
            (
                "block_interval_seconds",
                "Time between consecutive committed blocks",
                &self.block_interval_seconds,
            ),
            (
                "propose_step_seconds",
                "Time spent in the propose step",
                &self.propose_step_seconds,
            ),
            (
                "prevote_step_seconds",
                "Time spent in the prevote step",
                &self.prevote_step_seconds,
            ),
            (
                "precommit_step_seconds",
                "Time spent in the precommit step",
                &self.precommit_step_seconds,
            ),
            (
                "block_execution_seconds",
                "Time to execute a block, signature checks included",
                &self.block_execution_seconds,
            ),
            (
                "block_commit_seconds",
                "Time to write a decided block to the store",
                &self.block_commit_seconds,
            ),
            (
                "signature_verification_seconds",
                "Time to admit a batch of gossiped transactions, batch signature check included",
                &self.signature_verification_seconds,
            ),
        ] {
            registry.register(name, help, histogram.clone());
        }
        registry
    }
}

/// Serves `/metrics` on `address` until `shutdown`. Returns the bound address.
pub async fn serve(
    address: SocketAddr,
    registry: Registry,
    mut shutdown: watch::Receiver<bool>,
) -> Result<SocketAddr, NodeError> {
    let listener = TcpListener::bind(address)
        .await
        .map_err(|error| NodeError::Network(format!("metrics on {address}: {error}")))?;
    let local = listener
        .local_addr()
        .map_err(|error| NodeError::Network(error.to_string()))?;
    info!(address = %local, "metrics endpoint listening");
    let registry = std::sync::Arc::new(registry);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let registry = registry.clone();
                    tokio::spawn(async move {
                        if let Err(error) = answer(stream, &registry).await {
                            debug!(%error, "metrics request failed");
                        }
                    });
                }
            }
        }
    });
    Ok(local)
}

async fn answer(mut stream: tokio::net::TcpStream, registry: &Registry) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(REQUEST_TIMEOUT, async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_REQUEST_BYTES {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
    if !matches!(read, Ok(Ok(()))) {
        return Ok(());
    }
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, content_type, body) = if method == "GET" && (path == "/metrics" || path == "/") {
        let mut text = String::new();
        if encode(&mut text, registry).is_err() {
            text.clear();
        }
        (
            "200 OK",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            text,
        )
    } else {
        ("404 Not Found", "text/plain", "not found\n".to_string())
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}
