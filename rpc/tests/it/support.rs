//! An in-memory node for the server to serve: a funded ledger store in a temporary directory, a
//! naive mempool, made-up commit certificates, and a block broadcast the test drives by hand.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use cairn_ledger::{
    store::AccountProof,
    testing::{
        commit_next_block, open_funded_store, test_address, test_key, transfer, TEST_CHAIN_ID,
    },
    Account, Address, Block, Hash, LedgerStore, Payload, SignedTransaction, StoreConfig,
};
use cairn_rpc::{
    backend::{
        CommitInfo, CommitSignature, CommittedBlock, MempoolInfo, NodeInfo, TxStatus,
        ValidatorInfo, ValidatorSetInfo,
    },
    Backend, BackendError, RejectionKind, RpcConfig, RpcHandle, SubmitRejection,
};
use jsonrpsee::{
    core::client::Error as ClientError,
    http_client::{HttpClient, HttpClientBuilder},
    ws_client::{WsClient, WsClientBuilder},
};
use tempfile::TempDir;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::broadcast,
};

pub const FUNDED_ACCOUNTS: u64 = 4;
pub const BALANCE: u64 = 1_000_000;
/// Announcements the block channel holds before a slow receiver lags.
pub const BLOCK_CHANNEL_CAPACITY: usize = 8;
/// Bound on every wait in these tests.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Signs test account `from`'s transfer of `amount` to test account `to`.
pub fn signed_transfer(from: u64, nonce: u64, to: u64, amount: u64) -> SignedTransaction {
    transfer(
        &test_key(from),
        TEST_CHAIN_ID,
        nonce,
        test_address(to),
        amount,
        10,
    )
}

/// The validator that signs every (made-up) certificate.
fn validator_key() -> cairn_ledger::SecretKey {
    test_key(100)
}

pub struct TestBackend {
    store: LedgerStore,
    pool: Mutex<Vec<SignedTransaction>>,
    commits: Mutex<Vec<CommitInfo>>,
    blocks: broadcast::Sender<Arc<CommittedBlock>>,
    _dir: TempDir,
}

impl TestBackend {
    pub fn new() -> Arc<TestBackend> {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_funded_store(dir.path(), StoreConfig::default(), FUNDED_ACCOUNTS, BALANCE)
            .expect("funded store");
        let (blocks, _) = broadcast::channel(BLOCK_CHANNEL_CAPACITY);
        Arc::new(TestBackend {
            store,
            pool: Mutex::new(Vec::new()),
            commits: Mutex::new(Vec::new()),
            blocks,
            _dir: dir,
        })
    }

    pub fn latest_height(&self) -> u64 {
        self.store.latest_height().unwrap_or(0)
    }

    pub fn pool_len(&self) -> usize {
        self.pool.lock().unwrap().len()
    }

    /// Commits the pooled transactions as the next block, with its certificate, and announces it.
    pub fn commit_pending(&self) -> Block {
        let transactions = std::mem::take(&mut *self.pool.lock().unwrap());
        let proposer = Address::from_public_key(&validator_key().public_key());
        let block = commit_next_block(&self.store, proposer, transactions).expect("commit");
        let commit = CommitInfo {
            height: block.height(),
            round: 0,
            block_hash: block.hash(),
            precommits: vec![CommitSignature {
                validator: validator_key().public_key(),
                signature: validator_key().sign(block.hash().as_ref()),
            }],
        };
        self.commits.lock().unwrap().push(commit);
        self.announce(&block);
        block
    }

    /// Announces `block` to subscribers (again), without committing anything.
    pub fn announce(&self, block: &Block) {
        let _ = self.blocks.send(Arc::new(CommittedBlock {
            hash: block.hash(),
            header: block.header.clone(),
            tx_hashes: block
                .transactions
                .iter()
                .map(SignedTransaction::hash)
                .collect(),
        }));
    }

    /// Waits until the pool holds `count` transactions.
    pub async fn wait_for_pool(&self, count: usize) {
        tokio::time::timeout(PATIENCE, async {
            while self.pool_len() < count {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("transaction never reached the pool");
    }

    fn reject(kind: RejectionKind, message: impl Into<String>) -> SubmitRejection {
        SubmitRejection {
            kind,
            message: message.into(),
        }
    }
}

impl Backend for TestBackend {
    fn node_info(&self) -> NodeInfo {
        let meta = self.store.meta().expect("genesis");
        let latest_time_ms = match self.store.block(meta.latest_height) {
            Ok(Some(block)) => block.header.time_ms,
            _ => 0,
        };
        NodeInfo {
            chain_id: meta.chain_id,
            genesis_hash: meta.genesis_hash,
            node_id: "12D3KooWTestNode".into(),
            latest_height: meta.latest_height,
            latest_hash: meta.latest_block_hash,
            latest_time_ms,
            syncing: false,
            peers: 3,
            validator_address: Some(Address::from_public_key(&validator_key().public_key())),
            version: "0.1.0-test".into(),
        }
    }

    fn block(&self, height: u64) -> Result<Option<Block>, BackendError> {
        self.store.block(height).map_err(BackendError::from)
    }

    fn block_by_hash(&self, hash: &Hash) -> Result<Option<Block>, BackendError> {
        self.store.block_by_hash(hash).map_err(BackendError::from)
    }

    fn commit(&self, height: u64) -> Result<Option<CommitInfo>, BackendError> {
        Ok(self
            .commits
            .lock()
            .unwrap()
            .iter()
            .find(|commit| commit.height == height)
            .cloned())
    }

    fn validators(&self, height: u64) -> Result<Option<ValidatorSetInfo>, BackendError> {
        if height == 0 || height > self.latest_height() + 1 {
            return Ok(None);
        }
        let public_key = validator_key().public_key();
        Ok(Some(ValidatorSetInfo {
            height,
            hash: Hash::ZERO,
            validators: vec![ValidatorInfo {
                name: "validator-0".into(),
                public_key,
                address: Address::from_public_key(&public_key),
                voting_power: 10,
            }],
        }))
    }

    fn account(&self, address: &Address) -> Result<Option<Account>, BackendError> {
        self.store.account(address).map_err(BackendError::from)
    }

    fn account_proof(&self, address: &Address, height: u64) -> Result<AccountProof, BackendError> {
        self.store
            .account_proof(address, height)
            .map_err(BackendError::from)
    }

    fn submit(&self, tx: &[u8]) -> Result<Hash, SubmitRejection> {
        let signed = SignedTransaction::decode(tx)
            .map_err(|error| Self::reject(RejectionKind::Encoding, error.to_string()))?;
        let hash = signed.hash();
        if signed.tx.chain_id != TEST_CHAIN_ID {
            return Err(Self::reject(
                RejectionKind::WrongChain,
                "signed for another chain",
            ));
        }
        if !signed.verify_signature() {
            return Err(Self::reject(RejectionKind::Signature, "bad signature"));
        }
        let mut pool = self.pool.lock().unwrap();
        if pool.iter().any(|pooled| pooled.hash() == hash) {
            return Err(Self::reject(RejectionKind::Duplicate, "already pooled"));
        }
        let sender = signed.tx.sender();
        let account = self
            .store
            .account(&sender)
            .map_err(|error| Self::reject(RejectionKind::Unavailable, error.to_string()))?
            .unwrap_or_default();
        let pooled = pool.iter().filter(|tx| tx.tx.sender() == sender).count() as u64;
        let expected = account.nonce + pooled;
        if signed.tx.nonce < expected {
            return Err(Self::reject(
                RejectionKind::NonceTooLow,
                format!("nonce {} is below {expected}", signed.tx.nonce),
            ));
        }
        if signed.tx.nonce > expected {
            return Err(Self::reject(
                RejectionKind::NonceTooFarAhead,
                format!("nonce {} is above {expected}", signed.tx.nonce),
            ));
        }
        let Payload::Transfer { amount, .. } = signed.tx.payload;
        if account.balance < amount + signed.tx.fee {
            return Err(Self::reject(
                RejectionKind::InsufficientBalance,
                "balance too low",
            ));
        }
        pool.push(signed);
        Ok(hash)
    }

    fn tx_status(&self, hash: &Hash) -> Result<TxStatus, BackendError> {
        if self
            .pool
            .lock()
            .unwrap()
            .iter()
            .any(|tx| tx.hash() == *hash)
        {
            return Ok(TxStatus::Pending);
        }
        Ok(
            match self.store.receipt(hash).map_err(BackendError::from)? {
                Some(receipt) => TxStatus::Committed(receipt),
                None => TxStatus::Unknown,
            },
        )
    }

    fn mempool_info(&self) -> MempoolInfo {
        let pool = self.pool.lock().unwrap();
        MempoolInfo {
            count: pool.len(),
            bytes: pool.iter().map(|tx| tx.encode().len()).sum(),
            max_count: 5000,
            max_bytes: 5 << 20,
        }
    }

    fn subscribe_blocks(&self) -> broadcast::Receiver<Arc<CommittedBlock>> {
        self.blocks.subscribe()
    }
}

/// Limits small enough to hit in a test, and no rate limit unless a test asks for one.
pub fn test_config() -> RpcConfig {
    RpcConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        max_request_bytes: 64 * 1024,
        max_batch_size: 10,
        max_subscriptions_per_connection: 4,
        rate_limit_per_second: 0,
        submit_wait_default_ms: 5_000,
        submit_wait_max_ms: 10_000,
        ..RpcConfig::default()
    }
}

/// A server over a fresh backend, with clients for it.
pub struct TestNode {
    pub backend: Arc<TestBackend>,
    pub handle: RpcHandle,
    pub http: HttpClient,
}

impl TestNode {
    pub async fn start() -> TestNode {
        TestNode::start_with(test_config()).await
    }

    pub async fn start_with(config: RpcConfig) -> TestNode {
        let backend = TestBackend::new();
        let handle = cairn_rpc::start(&config, backend.clone())
            .await
            .expect("server starts");
        let http = HttpClientBuilder::default()
            .request_timeout(PATIENCE)
            .build(handle.http_url())
            .expect("http client");
        TestNode {
            backend,
            handle,
            http,
        }
    }

    pub async fn ws(&self) -> WsClient {
        WsClientBuilder::default()
            .request_timeout(PATIENCE)
            .build(self.handle.ws_url())
            .await
            .expect("ws client")
    }

    /// Sends raw bytes as an HTTP/1.1 request and returns the status code and body.
    pub async fn raw_http(
        &self,
        method: &str,
        path: &str,
        headers: &str,
        body: &[u8],
    ) -> (u16, Vec<u8>, String) {
        raw_http(self.handle.local_addr(), method, path, headers, body).await
    }

    /// POSTs `body` as JSON and returns the status code and the parsed JSON answer.
    pub async fn post_json(&self, body: &str) -> (u16, serde_json::Value) {
        let (status, bytes, _) = self
            .raw_http(
                "POST",
                "/",
                "Content-Type: application/json\r\n",
                body.as_bytes(),
            )
            .await;
        let json = serde_json::from_slice(&bytes).unwrap_or_else(|error| {
            panic!("not JSON ({error}): {}", String::from_utf8_lossy(&bytes))
        });
        (status, json)
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.handle.stop();
    }
}

/// One HTTP/1.1 exchange over a fresh connection: (status, body, raw headers).
pub async fn raw_http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: &[u8],
) -> (u16, Vec<u8>, String) {
    tokio::time::timeout(PATIENCE, async {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.expect("write head");
        stream.write_all(body).await.expect("write body");
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.expect("read");
        let split = response
            .windows(4)
            .position(|window| window == b"\r\n\r\n")
            .expect("end of headers");
        let head = String::from_utf8_lossy(&response[..split]).into_owned();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .expect("status code");
        (status, response[split + 4..].to_vec(), head)
    })
    .await
    .expect("raw http exchange timed out")
}

/// The JSON-RPC error code of a failed typed call.
pub fn error_code(error: ClientError) -> (i32, serde_json::Value) {
    match error {
        ClientError::Call(object) => (
            object.code(),
            object
                .data()
                .map(|raw| serde_json::from_str(raw.get()).unwrap())
                .unwrap_or(serde_json::Value::Null),
        ),
        other => panic!("expected a JSON-RPC error, got {other:?}"),
    }
}
