//! The tasks that move transactions and blocks between the network and the node, off the
//! consensus driver's loop:
//!
//! - [`tx_batcher`]: transactions this node admitted, gossiped in batches (one message per few
//!   milliseconds instead of one per transaction);
//! - [`tx_ingress`]: gossiped batches admitted to the mempool with one batch signature check, and a
//!   verdict for gossip (a batch with a transaction that can never be valid is rejected and counts
//!   against the peer that sent it);
//! - [`sync_server`]: peers' block-sync requests answered from the store.

use std::{sync::Arc, time::Duration};

use tokio::sync::{mpsc, watch};
use tracing::debug;

use crate::{
    driver::now_ms,
    network::{NetCommand, NetEvent, Topic, Verdict, MAX_RESPONSE_BYTES},
    shared::Shared,
    wire::{
        self, GossipEnvelope, SyncRequest, SyncResponse, TxBatch, WireCertificate, MAX_TX_BATCH,
    },
};

/// How long admitted transactions wait to be gossiped together.
const BATCH_WINDOW: Duration = Duration::from_millis(20);

/// Most blocks one sync response carries, whatever the request asks.
const MAX_BLOCKS_PER_RESPONSE: u32 = 256;

/// Gossips transactions admitted through RPC in batches.
pub async fn tx_batcher(
    shared: Arc<Shared>,
    mut admitted: mpsc::Receiver<Vec<u8>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut batch: Vec<Vec<u8>> = Vec::new();
    let mut bytes = 0usize;
    let mut flush = tokio::time::interval(BATCH_WINDOW);
    let max_bytes = crate::wire::MAX_GOSSIP_BYTES / 2;
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            tx = admitted.recv() => match tx {
                Some(tx) => {
                    bytes += tx.len();
                    batch.push(tx);
                    if batch.len() >= MAX_TX_BATCH || bytes >= max_bytes {
                        publish(&shared, std::mem::take(&mut batch));
                        bytes = 0;
                    }
                }
                None => break,
            },
            _ = flush.tick() => {
                if !batch.is_empty() {
                    publish(&shared, std::mem::take(&mut batch));
                    bytes = 0;
                }
            }
        }
    }
}

fn publish(shared: &Shared, transactions: Vec<Vec<u8>>) {
    let data = wire::encode(&GossipEnvelope {
        sent_at_ms: now_ms(),
        payload: TxBatch { transactions },
    });
    if !shared.net.try_send(NetCommand::Publish {
        topic: Topic::Transactions,
        data,
    }) {
        debug!("network queue full; transaction batch not gossiped");
    }
}

/// The next event, or `None` once shutdown is signalled or the network is gone.
async fn next_event(
    events: &mut mpsc::Receiver<NetEvent>,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<NetEvent> {
    tokio::select! {
        _ = shutdown.changed() => None,
        event = events.recv() => event,
    }
}

/// Admits gossiped transaction batches to the mempool.
pub async fn tx_ingress(
    shared: Arc<Shared>,
    mut events: mpsc::Receiver<NetEvent>,
    mut shutdown: watch::Receiver<bool>,
) {
    while let Some(event) = next_event(&mut events, &mut shutdown).await {
        let NetEvent::Gossip { id, data, .. } = event else {
            continue;
        };
        let shared_for_task = shared.clone();
        let verdict = tokio::task::spawn_blocking(move || admit_gossip(&shared_for_task, &data))
            .await
            .unwrap_or(Verdict::Ignore);
        if verdict == Verdict::Reject {
            shared.metrics.invalid_gossip.inc();
        }
        let _ = shared.net.try_send(NetCommand::Validated { id, verdict });
    }
}

fn admit_gossip(shared: &Shared, data: &[u8]) -> Verdict {
    let Ok(envelope) = wire::decode::<GossipEnvelope<TxBatch>>("transaction batch", data) else {
        return Verdict::Reject;
    };
    let transactions = envelope.payload.transactions;
    if transactions.is_empty() || transactions.len() > MAX_TX_BATCH {
        return Verdict::Reject;
    }
    let started = std::time::Instant::now();
    let mut mempool = shared.mempool();
    let results = mempool.admit_batch(&transactions, &*shared.store);
    shared.update_mempool_metrics(mempool.len(), mempool.bytes());
    drop(mempool);
    shared
        .metrics
        .signature_verification_seconds
        .observe(started.elapsed().as_secs_f64());
    if results
        .iter()
        .any(|result| result.as_ref().is_err_and(|error| error.is_invalid()))
    {
        Verdict::Reject
    } else {
        Verdict::Accept
    }
}

/// Answers peers' block-sync requests.
pub async fn sync_server(
    shared: Arc<Shared>,
    mut events: mpsc::Receiver<NetEvent>,
    mut shutdown: watch::Receiver<bool>,
) {
    while let Some(event) = next_event(&mut events, &mut shutdown).await {
        let NetEvent::SyncRequest {
            request, channel, ..
        } = event
        else {
            continue;
        };
        let shared_for_task = shared.clone();
        let response = tokio::task::spawn_blocking(move || answer(&shared_for_task, &request))
            .await
            .unwrap_or_else(|error| SyncResponse::Error(error.to_string()));
        let _ = shared
            .net
            .send(NetCommand::Respond { channel, response })
            .await;
    }
}

fn answer(shared: &Shared, request: &SyncRequest) -> SyncResponse {
    match request {
        SyncRequest::Status => SyncResponse::Status {
            genesis_hash: shared.genesis.hash(),
            latest_height: shared.store.latest_height().unwrap_or(0),
        },
        SyncRequest::Blocks { from, count } => {
            let mut blocks = Vec::new();
            let mut bytes = 0usize;
            let budget = (MAX_RESPONSE_BYTES / 2) as usize;
            let count = (*count).min(MAX_BLOCKS_PER_RESPONSE);
            for height in *from..from.saturating_add(u64::from(count)) {
                let block = match shared.store.block(height) {
                    Ok(Some(block)) => block,
                    Ok(None) => break,
                    Err(error) => return SyncResponse::Error(error.to_string()),
                };
                let certificate = match shared.store.certificate(height) {
                    Ok(Some(bytes)) => match wire::decode::<WireCertificate>("certificate", &bytes)
                    {
                        Ok(certificate) => certificate,
                        Err(error) => return SyncResponse::Error(error.to_string()),
                    },
                    Ok(None) => break,
                    Err(error) => return SyncResponse::Error(error.to_string()),
                };
                let size = block.encode().len();
                if !blocks.is_empty() && bytes + size > budget {
                    break;
                }
                bytes += size;
                blocks.push((block, certificate));
            }
            SyncResponse::Blocks(blocks)
        }
    }
}
