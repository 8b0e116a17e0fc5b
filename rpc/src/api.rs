//! The API, one jsonrpsee trait per namespace. The `rpc` macro turns each into a server trait
//! (`…Server`, implemented in [`crate::handlers`]) and a typed client trait (`…Client`,
//! implemented for jsonrpsee's `HttpClient` and `WsClient`), so both sides share one definition.
//!
//! Parameters are positional; trailing `Option` parameters may be left out.

use jsonrpsee::{core::SubscriptionResult, proc_macros::rpc};

use crate::{
    error::RpcError,
    format::{Bech32Address, BlockTag, HexBytes, HexHash},
    types::{
        RpcAccount, RpcAccountProof, RpcBlock, RpcCommit, RpcHeader, RpcMempoolStatus,
        RpcNodeStatus, RpcReceipt, RpcSubmitResult, RpcTxStatus, RpcValidatorSet,
    },
};

/// `node_*`: the node itself.
#[rpc(server, client, namespace = "node")]
pub trait NodeApi {
    /// Chain, latest block, sync state, peers and version.
    #[method(name = "status")]
    async fn node_status(&self) -> Result<RpcNodeStatus, RpcError>;
}

/// `chain_*`: committed blocks, certificates and validator sets.
#[rpc(server, client, namespace = "chain")]
pub trait ChainApi {
    /// The block at a height (1 and up) or the latest one.
    #[method(name = "getBlock")]
    async fn get_block(&self, block: BlockTag) -> Result<RpcBlock, RpcError>;

    /// The block with this hash, or `null`.
    #[method(name = "getBlockByHash")]
    async fn get_block_by_hash(&self, hash: HexHash) -> Result<Option<RpcBlock>, RpcError>;

    /// The header at a height (1 and up).
    #[method(name = "getHeader")]
    async fn get_header(&self, height: u64) -> Result<RpcHeader, RpcError>;

    /// The commit certificate of a height (1 and up).
    #[method(name = "getCommit")]
    async fn get_commit(&self, height: u64) -> Result<RpcCommit, RpcError>;

    /// The validator set deciding a height; by default latest + 1, the set deciding the next block.
    #[method(name = "getValidators")]
    async fn get_validators(&self, height: Option<u64>) -> Result<RpcValidatorSet, RpcError>;

    /// Every committed header, with its hash, as `chain_newHead` notifications.
    #[subscription(
        name = "subscribeNewHeads" => "newHead",
        unsubscribe = "unsubscribeNewHeads",
        item = RpcHeader
    )]
    async fn subscribe_new_heads(&self) -> SubscriptionResult;
}

/// `state_*`: accounts, with proofs.
#[rpc(server, client, namespace = "state")]
pub trait StateApi {
    /// An account at the latest height, or at `height`; `null` when it does not exist.
    #[method(name = "getAccount")]
    async fn get_account(
        &self,
        address: Bech32Address,
        height: Option<u64>,
    ) -> Result<Option<RpcAccount>, RpcError>;

    /// An account (or its absence) at the latest height, or at `height`, with its Merkle proof,
    /// the header and the commit certificate of that height.
    #[method(name = "getProof")]
    async fn get_proof(
        &self,
        address: Bech32Address,
        height: Option<u64>,
    ) -> Result<RpcAccountProof, RpcError>;
}

/// `tx_*`: submitting and following transactions.
#[rpc(server, client, namespace = "tx")]
pub trait TxApi {
    /// Admits a signed transaction (its canonical bytes as 0x-hex); returns its hash.
    #[method(name = "submit")]
    async fn submit(&self, tx: HexBytes) -> Result<HexHash, RpcError>;

    /// Submits several transactions in order; one result per transaction.
    #[method(name = "submitBatch")]
    async fn submit_batch(&self, txs: Vec<HexBytes>) -> Result<Vec<RpcSubmitResult>, RpcError>;

    /// Submits a transaction and answers with its receipt once it is committed.
    #[method(name = "submitAndWait")]
    async fn submit_and_wait(
        &self,
        tx: HexBytes,
        timeout_ms: Option<u64>,
    ) -> Result<RpcReceipt, RpcError>;

    /// Where a transaction is: pending, committed (with its receipt) or unknown.
    #[method(name = "get")]
    async fn get(&self, hash: HexHash) -> Result<RpcTxStatus, RpcError>;

    /// One `tx_committed` notification with the receipt when the transaction is committed (at
    /// once if it is already); the server then ends the subscription.
    #[subscription(name = "watch" => "committed", unsubscribe = "unwatch", item = RpcReceipt)]
    async fn watch(&self, hash: HexHash) -> SubscriptionResult;
}

/// `mempool_*`.
#[rpc(server, client, namespace = "mempool")]
pub trait MempoolApi {
    /// How full the mempool is, and its limits.
    #[method(name = "status")]
    async fn mempool_status(&self) -> Result<RpcMempoolStatus, RpcError>;
}

/// `rpc.discover`: the API's own description.
#[rpc(server, client, namespace = "rpc", namespace_separator = ".")]
pub trait DiscoverApi {
    /// The OpenRPC document of every method.
    #[method(name = "discover")]
    async fn discover(&self) -> Result<serde_json::Value, RpcError>;
}
