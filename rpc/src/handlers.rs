//! The API's implementation over a [`Backend`]: turning parameters into backend calls and answers
//! into [`crate::types`].

use std::{sync::Arc, time::Duration};

use cairn_ledger::{store::AccountProof, Address, Hash, SignedTransaction};
use jsonrpsee::{
    core::{async_trait, SubscriptionResult},
    server::{PendingSubscriptionSink, SubscriptionMessage, SubscriptionSink, TrySendError},
    types::ErrorObjectOwned,
    RpcModule,
};
use tokio::{
    sync::{broadcast, Semaphore},
    time::Instant,
};

use crate::{
    api::{
        ChainApiServer, DiscoverApiServer, MempoolApiServer, NodeApiServer, StateApiServer,
        TxApiServer,
    },
    backend::{Backend, CommittedBlock, RejectionKind, SubmitRejection, TxStatus},
    config::RpcConfig,
    error::RpcError,
    format::{Bech32Address, BlockTag, HexBytes, HexHash},
    openrpc,
    types::{
        RpcAccount, RpcAccountProof, RpcBlock, RpcCommit, RpcHeader, RpcMempoolStatus,
        RpcMerkleProof, RpcNodeStatus, RpcReceipt, RpcSubmitResult, RpcTxStatus, RpcValidatorSet,
    },
};

/// Builds the module of every method, over `backend`, with `config`'s limits.
pub fn rpc_module(
    config: &RpcConfig,
    backend: Arc<dyn Backend>,
) -> Result<RpcModule<()>, RpcError> {
    let handler = Handler {
        backend,
        limits: Arc::new(Limits::from(config)),
        waits: Arc::new(Semaphore::new(to_usize(config.max_pending_waits))),
    };
    let mut module = RpcModule::new(());
    module.merge(NodeApiServer::into_rpc(handler.clone()))?;
    module.merge(ChainApiServer::into_rpc(handler.clone()))?;
    module.merge(StateApiServer::into_rpc(handler.clone()))?;
    module.merge(TxApiServer::into_rpc(handler.clone()))?;
    module.merge(MempoolApiServer::into_rpc(handler.clone()))?;
    module.merge(DiscoverApiServer::into_rpc(handler))?;
    Ok(module)
}

/// The limits the handlers enforce themselves (the transport enforces the others).
#[derive(Debug)]
struct Limits {
    max_batch_size: u32,
    max_pending_waits: u32,
    submit_wait_default: Duration,
    submit_wait_max: Duration,
}

impl From<&RpcConfig> for Limits {
    fn from(config: &RpcConfig) -> Self {
        Limits {
            max_batch_size: config.max_batch_size,
            max_pending_waits: config.max_pending_waits,
            submit_wait_default: Duration::from_millis(config.submit_wait_default_ms),
            submit_wait_max: Duration::from_millis(config.submit_wait_max_ms),
        }
    }
}

#[derive(Clone)]
struct Handler {
    backend: Arc<dyn Backend>,
    limits: Arc<Limits>,
    /// One permit per `tx_submitAndWait` in progress.
    waits: Arc<Semaphore>,
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handler")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Handler {
    /// An account's proof at `height`, off the runtime's threads: at a height between the
    /// store's checkpoints it replays blocks, which can take seconds under load, and the
    /// runtime's threads must stay free for everything else the node does.
    async fn account_proof(&self, address: Address, height: u64) -> Result<AccountProof, RpcError> {
        let backend = Arc::clone(&self.backend);
        tokio::task::spawn_blocking(move || backend.account_proof(&address, height))
            .await
            .map_err(|error| RpcError::internal(format!("proof task failed: {error}")))?
            .map_err(RpcError::from)
    }

    fn latest_height(&self) -> u64 {
        self.backend.node_info().latest_height
    }

    /// The block at `height`: genesis has none, and a height above the latest is not committed.
    fn block_at(&self, height: u64) -> Result<cairn_ledger::Block, RpcError> {
        if height == 0 {
            return Err(RpcError::not_found(
                "block at height 0 (genesis has no block)",
            ));
        }
        match self.backend.block(height)? {
            Some(block) => Ok(block),
            None => Err(self.missing_height(height, "block")),
        }
    }

    /// The error for a height the backend has nothing for.
    fn missing_height(&self, height: u64, what: &str) -> RpcError {
        let latest = self.latest_height();
        if height > latest {
            RpcError::HeightNotCommitted { height, latest }
        } else {
            RpcError::not_found(format!("{what} at height {height}"))
        }
    }

    /// Decodes a transaction before the backend sees it, so every backend gives the same answer
    /// to bytes that are no transaction, and the hash is known before submitting.
    fn decode_tx(bytes: &[u8]) -> Result<SignedTransaction, RpcError> {
        SignedTransaction::decode(bytes).map_err(|error| {
            RpcError::Rejected(SubmitRejection {
                kind: RejectionKind::Encoding,
                message: error.to_string(),
            })
        })
    }

    fn submit_one(&self, bytes: &[u8]) -> Result<Hash, RpcError> {
        Self::decode_tx(bytes)?;
        Ok(self.backend.submit(bytes)?)
    }

    fn committed(&self, hash: &Hash) -> Result<Option<RpcReceipt>, RpcError> {
        match self.backend.tx_status(hash)? {
            TxStatus::Committed(receipt) => Ok(Some(RpcReceipt::from(&receipt))),
            TxStatus::Pending | TxStatus::Unknown => Ok(None),
        }
    }

    /// Waits for `hash` to be committed, on a block subscription taken before the transaction
    /// could have been committed; the status is checked again on each block that holds it and
    /// whenever notifications were lost.
    async fn wait_for_commit(
        &self,
        blocks: &mut broadcast::Receiver<Arc<CommittedBlock>>,
        hash: Hash,
        deadline: Instant,
        waited_from: Instant,
    ) -> Result<RpcReceipt, RpcError> {
        loop {
            let received = tokio::time::timeout_at(deadline, blocks.recv()).await;
            let check = match received {
                Err(_elapsed) => {
                    // One last look: the block may have been committed just now.
                    if let Some(receipt) = self.committed(&hash)? {
                        return Ok(receipt);
                    }
                    let waited_ms =
                        u64::try_from(waited_from.elapsed().as_millis()).unwrap_or(u64::MAX);
                    return Err(RpcError::Timeout {
                        tx_hash: hash,
                        waited_ms,
                    });
                }
                Ok(Ok(block)) => block.tx_hashes.contains(&hash),
                // Missed blocks may hold it: ask directly.
                Ok(Err(broadcast::error::RecvError::Lagged(_))) => true,
                Ok(Err(broadcast::error::RecvError::Closed)) => {
                    return Err(RpcError::internal("the node stopped announcing blocks"));
                }
            };
            if check {
                if let Some(receipt) = self.committed(&hash)? {
                    return Ok(receipt);
                }
            }
        }
    }
}

#[async_trait]
impl NodeApiServer for Handler {
    async fn node_status(&self) -> Result<RpcNodeStatus, RpcError> {
        Ok(RpcNodeStatus::from(self.backend.node_info()))
    }
}

#[async_trait]
impl ChainApiServer for Handler {
    async fn get_block(&self, block: BlockTag) -> Result<RpcBlock, RpcError> {
        let height = match block {
            BlockTag::Height(height) => height,
            BlockTag::Latest => self.latest_height(),
        };
        Ok(RpcBlock::from(&self.block_at(height)?))
    }

    async fn get_block_by_hash(&self, hash: HexHash) -> Result<Option<RpcBlock>, RpcError> {
        Ok(self
            .backend
            .block_by_hash(&hash.0)?
            .map(|block| RpcBlock::from(&block)))
    }

    async fn get_header(&self, height: u64) -> Result<RpcHeader, RpcError> {
        Ok(RpcHeader::from(&self.block_at(height)?.header))
    }

    async fn get_commit(&self, height: u64) -> Result<RpcCommit, RpcError> {
        if height == 0 {
            return Err(RpcError::not_found(
                "commit at height 0 (genesis has no commit)",
            ));
        }
        match self.backend.commit(height)? {
            Some(commit) => Ok(RpcCommit::from(&commit)),
            None => Err(self.missing_height(height, "commit")),
        }
    }

    async fn get_validators(&self, height: Option<u64>) -> Result<RpcValidatorSet, RpcError> {
        let latest = self.latest_height();
        let height = height.unwrap_or(latest.saturating_add(1));
        match self.backend.validators(height)? {
            Some(set) => Ok(RpcValidatorSet::from(&set)),
            None if height > latest.saturating_add(1) => {
                Err(RpcError::HeightNotCommitted { height, latest })
            }
            None => Err(RpcError::not_found(format!(
                "validator set at height {height}"
            ))),
        }
    }

    async fn subscribe_new_heads(&self, pending: PendingSubscriptionSink) -> SubscriptionResult {
        // Subscribe before accepting, so that no block committed after the answer is missed.
        let mut blocks = self.backend.subscribe_blocks();
        let mut sink = pending.accept().await?;
        loop {
            let block = tokio::select! {
                _ = sink.closed() => return Ok(()),
                received = blocks.recv() => received,
            };
            match block {
                Ok(block) => {
                    if !send_or_drop(&mut sink, &RpcHeader::from(&block.header))? {
                        return Ok(());
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    return Err(too_slow(format!(
                        "missed {missed} blocks: the subscriber reads too slowly"
                    )));
                }
                Err(broadcast::error::RecvError::Closed) => {
                    return Err(subscription_error(RpcError::internal(
                        "the node stopped announcing blocks",
                    )));
                }
            }
        }
    }
}

#[async_trait]
impl StateApiServer for Handler {
    async fn get_account(
        &self,
        address: Bech32Address,
        height: Option<u64>,
    ) -> Result<Option<RpcAccount>, RpcError> {
        let account = match height {
            None => self.backend.account(&address.0)?,
            Some(height) => self.account_proof(address.0, height).await?.account,
        };
        Ok(account.map(RpcAccount::from))
    }

    async fn get_proof(
        &self,
        address: Bech32Address,
        height: Option<u64>,
    ) -> Result<RpcAccountProof, RpcError> {
        let height = height.unwrap_or_else(|| self.latest_height());
        let proof = self.account_proof(address.0, height).await?;
        let (header, commit) = if height == 0 {
            (None, None)
        } else {
            let header = self.block_at(height)?.header;
            let commit = self
                .backend
                .commit(height)?
                .ok_or_else(|| self.missing_height(height, "commit"))?;
            // Never hand out an answer that cannot verify.
            if header.state_root != proof.state_root || commit.block_hash != header.hash() {
                return Err(RpcError::internal(format!(
                    "proof, header and commit at height {height} disagree"
                )));
            }
            (
                Some(RpcHeader::from(&header)),
                Some(RpcCommit::from(&commit)),
            )
        };
        Ok(RpcAccountProof {
            address: proof.address,
            height: proof.height,
            state_root: proof.state_root,
            state_key: proof.address.state_key(),
            account: proof.account.map(RpcAccount::from),
            proof: RpcMerkleProof::from(&proof.proof),
            header,
            commit,
        })
    }
}

#[async_trait]
impl TxApiServer for Handler {
    async fn submit(&self, tx: HexBytes) -> Result<HexHash, RpcError> {
        self.submit_one(&tx.0).map(HexHash)
    }

    async fn submit_batch(&self, txs: Vec<HexBytes>) -> Result<Vec<RpcSubmitResult>, RpcError> {
        if txs.len() > to_usize(self.limits.max_batch_size) {
            return Err(RpcError::invalid_params(format!(
                "{} transactions, at most {}",
                txs.len(),
                self.limits.max_batch_size
            )));
        }
        Ok(txs
            .iter()
            .map(|tx| match self.submit_one(&tx.0) {
                Ok(hash) => RpcSubmitResult::Accepted { hash },
                Err(error) => RpcSubmitResult::Rejected {
                    error: error.into(),
                },
            })
            .collect())
    }

    async fn submit_and_wait(
        &self,
        tx: HexBytes,
        timeout_ms: Option<u64>,
    ) -> Result<RpcReceipt, RpcError> {
        let timeout = match timeout_ms {
            None => self.limits.submit_wait_default,
            Some(ms) if Duration::from_millis(ms) <= self.limits.submit_wait_max => {
                Duration::from_millis(ms)
            }
            Some(ms) => {
                return Err(RpcError::invalid_params(format!(
                    "timeoutMs {ms} is above the maximum {}",
                    self.limits.submit_wait_max.as_millis()
                )))
            }
        };
        let _permit = self.waits.try_acquire().map_err(|_| RpcError::Busy {
            limit: self.limits.max_pending_waits,
        })?;
        let started = Instant::now();
        let hash = Self::decode_tx(&tx.0)?.hash();
        // Subscribe first: a block committed between the submission and the subscription would
        // otherwise go unseen.
        let mut blocks = self.backend.subscribe_blocks();
        if let Err(rejection) = self.backend.submit(&tx.0) {
            // Submitting again what is pooled or committed already waits for it, or answers at
            // once, so that a caller may retry safely.
            match self.backend.tx_status(&hash)? {
                TxStatus::Committed(receipt) => return Ok(RpcReceipt::from(&receipt)),
                TxStatus::Pending if rejection.kind == RejectionKind::Duplicate => {}
                TxStatus::Pending | TxStatus::Unknown => return Err(rejection.into()),
            }
        }
        if let Some(receipt) = self.committed(&hash)? {
            return Ok(receipt);
        }
        self.wait_for_commit(&mut blocks, hash, started + timeout, started)
            .await
    }

    async fn get(&self, hash: HexHash) -> Result<RpcTxStatus, RpcError> {
        Ok(RpcTxStatus::from(&self.backend.tx_status(&hash.0)?))
    }

    async fn watch(&self, pending: PendingSubscriptionSink, hash: HexHash) -> SubscriptionResult {
        let hash = hash.0;
        let mut blocks = self.backend.subscribe_blocks();
        let mut sink = pending.accept().await?;
        let mut check = true;
        loop {
            if check {
                if let Some(receipt) = self.committed(&hash).map_err(subscription_error)? {
                    send_or_drop(&mut sink, &receipt)?;
                    return Ok(());
                }
            }
            let block = tokio::select! {
                _ = sink.closed() => return Ok(()),
                received = blocks.recv() => received,
            };
            check = match block {
                Ok(block) => block.tx_hashes.contains(&hash),
                // Missed blocks may hold it: ask directly; this subscription sends one message
                // only, so lagging here costs nothing else.
                Err(broadcast::error::RecvError::Lagged(_)) => true,
                Err(broadcast::error::RecvError::Closed) => {
                    return Err(subscription_error(RpcError::internal(
                        "the node stopped announcing blocks",
                    )));
                }
            };
        }
    }
}

#[async_trait]
impl MempoolApiServer for Handler {
    async fn mempool_status(&self) -> Result<RpcMempoolStatus, RpcError> {
        Ok(RpcMempoolStatus::from(self.backend.mempool_info()))
    }
}

#[async_trait]
impl DiscoverApiServer for Handler {
    async fn discover(&self) -> Result<serde_json::Value, RpcError> {
        Ok(openrpc::document())
    }
}

/// Queues one notification without waiting. Returns `Ok(false)` when the subscriber has gone, and
/// an error that ends the subscription when its connection's queue is full: a subscriber that
/// cannot keep up is dropped rather than buffered without bound.
fn send_or_drop(
    sink: &mut SubscriptionSink,
    item: &impl serde::Serialize,
) -> Result<bool, jsonrpsee::core::SubscriptionError> {
    let json = serde_json::value::to_raw_value(item)
        .map_err(|error| subscription_error(RpcError::internal(error.to_string())))?;
    match sink.try_send(SubscriptionMessage::from(json)) {
        Ok(()) => Ok(true),
        Err(TrySendError::Closed(_)) => Ok(false),
        Err(TrySendError::Full(_)) => Err(too_slow(
            "the connection's message queue is full: the subscriber reads too slowly".into(),
        )),
    }
}

fn too_slow(reason: String) -> jsonrpsee::core::SubscriptionError {
    subscription_error(RpcError::SubscriberTooSlow { reason })
}

/// The error object a subscription closes with, mapped like every other error.
fn subscription_error(error: RpcError) -> jsonrpsee::core::SubscriptionError {
    let object = ErrorObjectOwned::from(error);
    match serde_json::value::to_raw_value(&object) {
        Ok(json) => jsonrpsee::core::SubscriptionError::from_json(json),
        Err(_) => jsonrpsee::core::SubscriptionError::from(object.message()),
    }
}

fn to_usize(value: u32) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}
