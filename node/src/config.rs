//! The node's home directory and its `config.toml`.
//!
//! ```text
//! <home>/
//!   config.toml            this file's settings (every field has a default)
//!   genesis.json           the chain's genesis
//!   node_key.json          the libp2p identity key (0600)
//!   validator_key.json     the consensus key, only on validators (0600)
//!   data/ledger/           RocksDB: blocks, state, certificates
//!   data/wal/              the consensus write-ahead log
//! ```

use std::{
    fs,
    io::Write,
    net::SocketAddr,
    path::{Path, PathBuf},
};

use libp2p::{identity::Keypair, Multiaddr, PeerId};
use serde::{Deserialize, Serialize};

use crate::error::NodeError;

pub const CONFIG_FILE: &str = "config.toml";
pub const GENESIS_FILE: &str = "genesis.json";
pub const NODE_KEY_FILE: &str = "node_key.json";
pub const VALIDATOR_KEY_FILE: &str = "validator_key.json";

/// Largest config or key file read.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// Everything in `config.toml`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// A human name for logs and status.
    pub moniker: String,
    pub p2p: P2pConfig,
    pub rpc: cairn_rpc::RpcConfig,
    pub metrics: MetricsConfig,
    pub mempool: MempoolLimits,
    pub consensus: ConsensusConfig,
    pub sync: SyncConfig,
    pub storage: StorageConfig,
    pub log: LogConfig,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct P2pConfig {
    /// Multiaddresses to listen on: TCP and QUIC.
    pub listen: Vec<Multiaddr>,
    /// Peers always kept connected, each `/ip4/…/tcp/…/p2p/<peer id>`; redialled with backoff.
    pub persistent_peers: Vec<Multiaddr>,
    /// Find more peers through Kademlia.
    pub discovery: bool,
    /// Most connected peers.
    pub max_peers: u32,
    /// Largest gossip message accepted, bytes.
    pub max_message_bytes: usize,
    /// Most gossip messages a peer may send per second before its excess is dropped.
    pub max_messages_per_peer_per_second: u32,
    /// Invalid messages a peer may send before it is disconnected and refused for a while.
    pub max_invalid_messages: u32,
}

impl Default for P2pConfig {
    fn default() -> Self {
        P2pConfig {
            listen: vec![
                "/ip4/127.0.0.1/tcp/26656"
                    .parse()
                    .unwrap_or_else(|_| Multiaddr::empty()),
                "/ip4/127.0.0.1/udp/26656/quic-v1"
                    .parse()
                    .unwrap_or_else(|_| Multiaddr::empty()),
            ],
            persistent_peers: Vec::new(),
            discovery: true,
            max_peers: 50,
            max_message_bytes: crate::wire::MAX_GOSSIP_BYTES,
            max_messages_per_peer_per_second: 2000,
            max_invalid_messages: 16,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Address of the Prometheus `/metrics` endpoint; `None` turns it off.
    pub listen: Option<SocketAddr>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 26660))),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MempoolLimits {
    pub max_transactions: usize,
    pub max_bytes: usize,
    pub max_per_sender: u64,
}

impl Default for MempoolLimits {
    fn default() -> Self {
        MempoolLimits {
            max_transactions: crate::mempool::DEFAULT_MAX_TRANSACTIONS,
            max_bytes: crate::mempool::DEFAULT_MAX_BYTES,
            max_per_sender: crate::mempool::DEFAULT_MAX_PER_SENDER,
        }
    }
}

/// Local consensus settings; the timeouts every validator shares are in the genesis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsensusConfig {
    /// While a height is undecided, this node's own messages of the height are sent again at this
    /// interval, for peers that missed them.
    pub rebroadcast_interval_ms: u64,
    /// A proposed block's time may run ahead of this node's clock by at most this much.
    pub max_clock_drift_ms: u64,
}

impl Default for ConsensusConfig {
    fn default() -> Self {
        ConsensusConfig {
            rebroadcast_interval_ms: 1000,
            max_clock_drift_ms: 10_000,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncConfig {
    /// Blocks asked of one peer in one request.
    pub blocks_per_request: u32,
    /// Requests in flight at once, spread over peers.
    pub parallel_requests: usize,
    /// How often peers are asked for their height.
    pub status_interval_ms: u64,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            blocks_per_request: 32,
            parallel_requests: 4,
            status_interval_ms: 1000,
        }
    }
}

/// The ledger store: how much history stays provable and how much state is kept in memory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Heights whose state can still be proven; older versions of the state tree are pruned.
    pub retained_heights: u64,
    /// State tree pages kept decoded in memory (a million accounts make about 74,000); the top
    /// levels that fit whole get a slot per position.
    pub page_cache_pages: usize,
    /// Accounts kept in memory in front of the accounts table.
    pub account_cache_entries: usize,
    /// RocksDB's block cache, MiB.
    pub block_cache_mib: usize,
}

impl Default for StorageConfig {
    fn default() -> Self {
        let store = cairn_ledger::StoreConfig::default();
        StorageConfig {
            retained_heights: store.retained_versions,
            page_cache_pages: store.page_cache_pages,
            account_cache_entries: store.account_cache_entries,
            block_cache_mib: store.block_cache_bytes >> 20,
        }
    }
}

impl StorageConfig {
    /// The ledger's settings these give.
    pub fn store_config(&self) -> cairn_ledger::StoreConfig {
        cairn_ledger::StoreConfig {
            retained_versions: self.retained_heights,
            page_cache_pages: self.page_cache_pages,
            account_cache_entries: self.account_cache_entries,
            block_cache_bytes: self.block_cache_mib.saturating_mul(1 << 20),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A `tracing` filter: `info`, `cairn_node=debug,info`, …; `RUST_LOG` overrides it.
    pub level: String,
    /// `text` or `json`.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl NodeConfig {
    /// Reads `config.toml`; unknown keys are errors, missing ones take their defaults.
    pub fn load(path: &Path) -> Result<NodeConfig, NodeError> {
        let text = read_small(path)?;
        let config: NodeConfig = toml::from_str(&text).map_err(|error| NodeError::Config {
            path: path.into(),
            reason: error.to_string(),
        })?;
        config.validate().map_err(|reason| NodeError::Config {
            path: path.into(),
            reason,
        })?;
        Ok(config)
    }

    /// Checks what TOML types cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.p2p.listen.is_empty() {
            return Err("p2p.listen: at least one address is needed".into());
        }
        for peer in &self.p2p.persistent_peers {
            if peer_id_of(peer).is_none() {
                return Err(format!(
                    "p2p.persistent_peers: {peer} does not end in /p2p/<peer id>"
                ));
            }
        }
        if self.p2p.max_message_bytes < 64 * 1024 {
            return Err("p2p.max_message_bytes: at least 65536".into());
        }
        if self.p2p.max_peers == 0 {
            return Err("p2p.max_peers: at least 1".into());
        }
        if self.mempool.max_transactions == 0 || self.mempool.max_bytes == 0 {
            return Err("mempool: limits must be above zero".into());
        }
        if self.sync.blocks_per_request == 0 || self.sync.blocks_per_request > 256 {
            return Err("sync.blocks_per_request: between 1 and 256".into());
        }
        if self.sync.parallel_requests == 0 || self.sync.parallel_requests > 64 {
            return Err("sync.parallel_requests: between 1 and 64".into());
        }
        if self.consensus.rebroadcast_interval_ms < 50 {
            return Err("consensus.rebroadcast_interval_ms: at least 50".into());
        }
        if self.sync.status_interval_ms < 50 {
            return Err("sync.status_interval_ms: at least 50".into());
        }
        if self.storage.retained_heights == 0 {
            return Err("storage.retained_heights: at least 1".into());
        }
        if self.storage.page_cache_pages < 1024 || self.storage.account_cache_entries < 1024 {
            return Err(
                "storage.page_cache_pages and storage.account_cache_entries: at least 1024".into(),
            );
        }
        if self.storage.block_cache_mib < 8 || self.storage.block_cache_mib > 1 << 20 {
            return Err("storage.block_cache_mib: between 8 and 1048576".into());
        }
        Ok(())
    }

    pub fn to_toml(&self) -> Result<String, NodeError> {
        toml::to_string_pretty(self).map_err(|error| NodeError::Config {
            path: CONFIG_FILE.into(),
            reason: error.to_string(),
        })
    }
}

/// The peer id at the end of a `/p2p/<id>` multiaddress.
pub fn peer_id_of(address: &Multiaddr) -> Option<PeerId> {
    address.iter().find_map(|protocol| match protocol {
        libp2p::multiaddr::Protocol::P2p(peer) => Some(peer),
        _ => None,
    })
}

/// The paths inside a home directory.
#[derive(Clone, Debug)]
pub struct Home {
    pub root: PathBuf,
}

impl Home {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Home { root: root.into() }
    }

    pub fn config(&self) -> PathBuf {
        self.root.join(CONFIG_FILE)
    }

    pub fn genesis(&self) -> PathBuf {
        self.root.join(GENESIS_FILE)
    }

    pub fn node_key(&self) -> PathBuf {
        self.root.join(NODE_KEY_FILE)
    }

    pub fn validator_key(&self) -> PathBuf {
        self.root.join(VALIDATOR_KEY_FILE)
    }

    pub fn ledger_dir(&self) -> PathBuf {
        self.root.join("data").join("ledger")
    }

    pub fn wal_dir(&self) -> PathBuf {
        self.root.join("data").join("wal")
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeKeyFile {
    peer_id: String,
    /// Hex of the ed25519 secret seed.
    secret_key: String,
}

/// A fresh libp2p identity.
pub fn generate_node_key() -> Keypair {
    Keypair::generate_ed25519()
}

/// The libp2p identity derived from a 32-byte seed (devnets derive node keys from their seed).
pub fn node_key_from_seed(seed: [u8; 32]) -> Result<Keypair, NodeError> {
    let mut bytes = seed;
    Keypair::ed25519_from_bytes(&mut bytes).map_err(|error| NodeError::Key {
        path: PathBuf::new(),
        reason: error.to_string(),
    })
}

/// Writes a node key file with permissions 0600; refuses to overwrite one.
pub fn write_node_key(path: &Path, key: &Keypair) -> Result<(), NodeError> {
    let bad = |reason: String| NodeError::Key {
        path: path.into(),
        reason,
    };
    let ed = key
        .clone()
        .try_into_ed25519()
        .map_err(|error| bad(error.to_string()))?;
    let seed = ed.secret();
    let file = NodeKeyFile {
        peer_id: key.public().to_peer_id().to_string(),
        secret_key: hex::encode(seed.as_ref()),
    };
    let text = serde_json::to_string_pretty(&file).map_err(|error| bad(error.to_string()))?;
    write_private(path, text.as_bytes())
}

/// Reads a node key file.
pub fn read_node_key(path: &Path) -> Result<Keypair, NodeError> {
    let bad = |reason: String| NodeError::Key {
        path: path.into(),
        reason,
    };
    let text = read_small(path)?;
    let file: NodeKeyFile = serde_json::from_str(&text).map_err(|error| bad(error.to_string()))?;
    let seed: [u8; 32] = hex::decode(file.secret_key.trim_start_matches("0x"))
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| bad("secret_key is not 32 bytes of hex".into()))?;
    let key = node_key_from_seed(seed).map_err(|error| bad(error.to_string()))?;
    if key.public().to_peer_id().to_string() != file.peer_id {
        return Err(bad("peer_id does not match secret_key".into()));
    }
    Ok(key)
}

/// Creates `path` with permissions 0600 and writes `bytes`; an existing file is an error.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), NodeError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(NodeError::io("create", path))?;
    file.write_all(bytes)
        .map_err(NodeError::io("write", path))?;
    file.sync_all().map_err(NodeError::io("sync", path))
}

/// Reads a small text file, refusing anything larger than a config or key file should be.
pub fn read_small(path: &Path) -> Result<String, NodeError> {
    let meta = fs::metadata(path).map_err(NodeError::io("read", path))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(NodeError::Config {
            path: path.into(),
            reason: format!("{} bytes, at most {MAX_FILE_BYTES}", meta.len()),
        });
    }
    fs::read_to_string(path).map_err(NodeError::io("read", path))
}
