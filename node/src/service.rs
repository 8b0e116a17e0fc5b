//! Starting and stopping a node: open everything in its home directory, start the tasks, and on a
//! signal stop them in an order that leaves nothing half-written.

use std::{
    net::SocketAddr,
    sync::{atomic::AtomicBool, Arc, Mutex},
};

use cairn_genesis::Genesis;
use cairn_ledger::{LedgerStore, SecretKey, StoreConfig};
use tokio::sync::{broadcast, mpsc, watch};
use tracing::{info, warn};

use crate::{
    config::{read_node_key, Home, NodeConfig},
    context::{genesis_validator_set, ValidatorSigner},
    driver::Driver,
    error::NodeError,
    ingress,
    mempool::{Mempool, MempoolConfig},
    metrics::{self, Metrics},
    network::{NetSinks, Network},
    rpc_backend::NodeBackend,
    shared::{Shared, BLOCK_EVENTS_CAPACITY},
};

/// Bound on the channels between tasks.
const CHANNEL: usize = 4096;

/// A running node.
#[derive(Debug)]
pub struct RunningNode {
    pub shared: Arc<Shared>,
    pub rpc_address: SocketAddr,
    pub metrics_address: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    driver: tokio::task::JoinHandle<Result<(), NodeError>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    rpc: cairn_rpc::RpcHandle,
}

/// Opens the ledger and commits genesis on first start; refuses a database of another chain.
pub fn open_store(
    home: &Home,
    genesis: &Genesis,
    config: StoreConfig,
) -> Result<LedgerStore, NodeError> {
    let path = home.ledger_dir();
    std::fs::create_dir_all(&path).map_err(NodeError::io("create", &path))?;
    let store = LedgerStore::open(&path, config)?;
    match store.meta() {
        None => {
            store.commit_genesis(genesis.chain_id(), genesis.hash(), &genesis.accounts())?;
            info!(chain = genesis.chain_id(), hash = %genesis.hash(), "genesis committed");
        }
        Some(meta) => {
            if meta.genesis_hash != genesis.hash() || meta.chain_id != genesis.chain_id() {
                return Err(NodeError::WrongChain {
                    expected: genesis.chain_id().into(),
                    expected_hash: genesis.hash(),
                    found: meta.chain_id,
                    found_hash: meta.genesis_hash,
                });
            }
        }
    }
    Ok(store)
}

/// Loads and checks the genesis a node can run.
pub fn load_genesis(home: &Home) -> Result<Genesis, NodeError> {
    let genesis =
        Genesis::load(home.genesis()).map_err(|error| NodeError::Genesis(error.to_string()))?;
    if genesis.initial_height() != 1 {
        return Err(NodeError::Genesis(format!(
            "initial_height {} is not supported yet: chains start at height 1",
            genesis.initial_height()
        )));
    }
    Ok(genesis)
}

/// The validator key in the home directory, if there is one.
pub fn load_validator_key(home: &Home) -> Result<Option<SecretKey>, NodeError> {
    let path = home.validator_key();
    if !path.exists() {
        return Ok(None);
    }
    cairn_genesis::devnet::read_validator_key(&path)
        .map(Some)
        .map_err(|error| NodeError::Key {
            path,
            reason: error.to_string(),
        })
}

impl RunningNode {
    /// Starts every task of a node from its home directory.
    pub async fn start(home: &Home, config: NodeConfig) -> Result<RunningNode, NodeError> {
        let genesis = load_genesis(home)?;
        let node_key = read_node_key(&home.node_key())?;
        let validator_key = load_validator_key(home)?;
        let genesis_set = genesis_validator_set(&genesis)?;
        let validator = validator_key.as_ref().map(SecretKey::public_key);
        if let Some(key) = &validator {
            if genesis_set.index_of(key).is_none() {
                info!(key = %key, "the validator key is not in the genesis set; following only");
            }
        }
        let store_config = config.storage.store_config();
        let store = Arc::new(tokio::task::block_in_place(|| {
            open_store(home, &genesis, store_config)
        })?);

        let (consensus_tx, consensus_rx) = mpsc::channel(CHANNEL);
        let (txs_tx, txs_rx) = mpsc::channel(CHANNEL);
        let (sync_tx, sync_rx) = mpsc::channel(256);
        let (network, net) = Network::new(
            node_key,
            genesis.chain_id(),
            config.p2p.clone(),
            NetSinks {
                consensus: consensus_tx,
                transactions: txs_tx,
                sync_server: sync_tx,
            },
        )?;
        info!(peer_id = %net.local_peer_id, moniker = %config.moniker, "node identity");

        let mut mempool_config = MempoolConfig::new(genesis.chain_id());
        mempool_config.max_transactions = config.mempool.max_transactions;
        mempool_config.max_bytes = config.mempool.max_bytes;
        mempool_config.max_per_sender = config.mempool.max_per_sender;
        let mempool = Mempool::new(mempool_config);
        let verified = mempool.verified_signatures();
        let (blocks, _) = broadcast::channel(BLOCK_EVENTS_CAPACITY);
        let (tx_gossip, tx_gossip_rx) = mpsc::channel(CHANNEL * 4);
        let shared = Arc::new(Shared {
            genesis,
            genesis_set,
            store,
            mempool: Mutex::new(mempool),
            verified,
            net,
            blocks,
            tx_gossip,
            syncing: AtomicBool::new(false),
            metrics: Metrics::new(),
            validator,
            moniker: config.moniker.clone(),
        });

        let (shutdown, shutdown_rx) = watch::channel(false);
        // An ephemeral key for a node without a validator key: it is in no validator set, so the
        // core never signs with it.
        let signer = match validator_key {
            Some(key) => ValidatorSigner::new(key),
            None => ValidatorSigner::new(SecretKey::from_seed(
                cairn_genesis::devnet::random_seed().map_err(|error| NodeError::Key {
                    path: home.validator_key(),
                    reason: error.to_string(),
                })?,
            )),
        };
        let driver = Driver::new(
            shared.clone(),
            signer,
            &home.wal_dir(),
            config.consensus.clone(),
            config.sync.clone(),
            consensus_rx,
        )?;

        let mut tasks = vec![
            tokio::spawn(network.run(shutdown_rx.clone())),
            tokio::spawn(ingress::tx_batcher(
                shared.clone(),
                tx_gossip_rx,
                shutdown_rx.clone(),
            )),
            tokio::spawn(ingress::tx_ingress(
                shared.clone(),
                txs_rx,
                shutdown_rx.clone(),
            )),
            tokio::spawn(ingress::sync_server(
                shared.clone(),
                sync_rx,
                shutdown_rx.clone(),
            )),
        ];
        let peers_shared = shared.clone();
        let mut peers_shutdown = shutdown_rx.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = peers_shutdown.changed() => break,
                    _ = tick.tick() => {
                        let peers = peers_shared.net.peer_count();
                        peers_shared.metrics.peers.set(i64::try_from(peers).unwrap_or(i64::MAX));
                    }
                }
            }
        }));

        let metrics_address = match config.metrics.listen {
            Some(address) => {
                Some(metrics::serve(address, shared.metrics.registry(), shutdown_rx.clone()).await?)
            }
            None => None,
        };
        let rpc = cairn_rpc::start(&config.rpc, Arc::new(NodeBackend::new(shared.clone())))
            .await
            .map_err(|error| NodeError::Rpc(error.to_string()))?;
        let rpc_address = rpc.local_addr();
        info!(address = %rpc_address, "JSON-RPC listening");

        let driver = tokio::spawn(driver.run(shutdown_rx));
        Ok(RunningNode {
            shared,
            rpc_address,
            metrics_address,
            shutdown,
            driver,
            tasks,
            rpc,
        })
    }

    /// Runs until SIGINT or SIGTERM, or until the driver stops on an error.
    pub async fn run_until_signal(mut self) -> Result<(), NodeError> {
        let driver_result = tokio::select! {
            _ = shutdown_signal() => {
                info!("shutting down");
                None
            }
            result = &mut self.driver => Some(result),
        };
        let result = match driver_result {
            Some(result) => flatten(result),
            None => Ok(()),
        };
        self.stop(result).await
    }

    /// Stops every task, waits for them, and flushes the store.
    pub async fn stop(self, result: Result<(), NodeError>) -> Result<(), NodeError> {
        let _ = self.shutdown.send(true);
        self.rpc.stop();
        let driver_result = if self.driver.is_finished() {
            Ok(())
        } else {
            flatten(self.driver.await)
        };
        for task in self.tasks {
            let _ = task.await;
        }
        // Every commit is already durable; this only spares the next start replaying the log.
        let store = self.shared.store.clone();
        if let Err(error) = tokio::task::spawn_blocking(move || store.flush())
            .await
            .unwrap_or(Ok(()))
        {
            warn!(%error, "could not flush the store");
        }
        info!("stopped");
        result.and(driver_result)
    }
}

fn flatten(result: Result<Result<(), NodeError>, tokio::task::JoinError>) -> Result<(), NodeError> {
    match result {
        Ok(inner) => inner,
        Err(error) => Err(NodeError::Task(error.to_string())),
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut interrupt), Ok(mut terminate)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            // Without signal handlers the node runs until killed.
            std::future::pending::<()>().await;
            return;
        };
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
