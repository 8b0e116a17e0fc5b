//! The `cairn` binary: a Cairn validator node and its tools.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::{bail, Context as _, Result};
use cairn_genesis::{devnet, ConsensusParams, DevnetSpec, Genesis, Timeout};
use cairn_ledger::{Address, SecretKey};
use cairn_node::{
    config::{
        generate_node_key, read_node_key, write_node_key, Home, LogFormat, MetricsConfig,
        NodeConfig, P2pConfig,
    },
    service::{load_validator_key, RunningNode},
};
use clap::{Args, Parser, Subcommand};
use libp2p::Multiaddr;
use serde::Serialize;

// The ledger's state tree allocates and frees hundreds of thousands of small nodes per block; with
// mimalloc a block of 10,000 transfers applies and commits in about 0.6x the time it takes with
// the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "cairn",
    version,
    about = "A Cairn blockchain node",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a home directory: default config.toml and a node key.
    Init(InitArgs),
    /// Run the node until SIGINT or SIGTERM.
    Start(HomeArgs),
    /// Validator and node keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Genesis files and local devnets.
    #[command(subcommand)]
    Genesis(GenesisCommand),
    /// Keys, balances and transfers: a wallet that talks to a node over JSON-RPC.
    Wallet(cairn_node::wallet::WalletArgs),
}

#[derive(Args, Debug)]
struct HomeArgs {
    /// The node's home directory.
    #[arg(long, env = "CAIRN_HOME", default_value = "./cairn-home")]
    home: PathBuf,
}

#[derive(Args, Debug)]
struct InitArgs {
    #[command(flatten)]
    home: HomeArgs,
    /// A name for logs and status.
    #[arg(long, default_value = "cairn-node")]
    moniker: String,
    /// Copy this genesis.json into the home directory.
    #[arg(long)]
    genesis: Option<PathBuf>,
    /// Copy this validator_key.json into the home directory (made with `cairn keys generate`).
    #[arg(long)]
    validator_key: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Write a new validator key file (mode 0600).
    Generate {
        /// Where to write it; an existing file is never overwritten.
        #[arg(long)]
        out: PathBuf,
        /// The validator's name, as the genesis will list it.
        #[arg(long, default_value = "validator")]
        name: String,
    },
    /// Show the node id and, if present, the validator key's public key and address.
    Show(HomeArgs),
}

#[derive(Subcommand, Debug)]
enum GenesisCommand {
    /// Generate a local devnet: genesis, keys, and a home directory per node.
    Devnet(DevnetArgs),
    /// Validate a genesis.json and print its hash.
    Validate {
        /// The genesis file.
        file: PathBuf,
    },
    /// Write devnet.json for running nodes (used by scripts/devnet.sh).
    #[command(hide = true)]
    Manifest {
        /// The devnet directory.
        #[arg(long)]
        dir: PathBuf,
        /// The process id of each node, in node order.
        #[arg(long, value_delimiter = ',')]
        pids: Vec<u32>,
    },
}

#[derive(Args, Debug)]
struct DevnetArgs {
    /// Number of validators.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=100))]
    validators: u16,
    /// Number of funded test accounts.
    #[arg(long, default_value_t = 16)]
    accounts: usize,
    /// Where to write; must not hold a devnet already.
    #[arg(long)]
    out: PathBuf,
    /// Chain id.
    #[arg(long, default_value = "cairn-devnet")]
    chain_id: String,
    /// Node i listens for RPC on P+i, for peers on P+100+i (TCP and QUIC), for metrics on P+200+i.
    #[arg(long, default_value_t = 8545)]
    base_port: u16,
    /// Seed (64 hex digits) for reproducible keys; random if absent.
    #[arg(long)]
    seed: Option<String>,
    /// Wait after each commit before the next height, milliseconds.
    #[arg(long, default_value_t = 300)]
    timeout_commit_ms: u64,
    /// Balance of each funded account.
    #[arg(long, default_value_t = 1_000_000_000_000)]
    balance: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("cairn: {}", describe(&error));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, each said once: our error types already put their cause's words in
/// their own message, so a cause already quoted is not repeated.
fn describe(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let message = cause.to_string();
        if text.contains(&message) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&message);
    }
    text
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Init(args) => init(&args),
        Command::Start(args) => start(&args.home),
        Command::Keys(KeysCommand::Generate { out, name }) => {
            let key = SecretKey::from_seed(devnet::random_seed()?);
            devnet::write_validator_key(&out, &name, &key)?;
            println!("public key: {}", key.public_key());
            println!(
                "address:    {}",
                Address::from_public_key(&key.public_key())
            );
            Ok(())
        }
        Command::Keys(KeysCommand::Show(args)) => {
            let home = Home::new(&args.home);
            let node_key = read_node_key(&home.node_key())?;
            println!("node id:    {}", node_key.public().to_peer_id());
            if let Some(key) = load_validator_key(&home)? {
                println!("validator:  {}", key.public_key());
                println!(
                    "address:    {}",
                    Address::from_public_key(&key.public_key())
                );
            }
            Ok(())
        }
        Command::Genesis(GenesisCommand::Devnet(args)) => generate_devnet(&args),
        Command::Genesis(GenesisCommand::Validate { file }) => {
            let genesis = Genesis::load(&file)?;
            println!("valid genesis for chain {}", genesis.chain_id());
            println!("hash: {}", genesis.hash());
            Ok(())
        }
        Command::Genesis(GenesisCommand::Manifest { dir, pids }) => write_manifest(&dir, &pids),
        Command::Wallet(args) => cairn_node::wallet::run(args),
    }
}

fn init(args: &InitArgs) -> Result<()> {
    let home = Home::new(&args.home.home);
    std::fs::create_dir_all(&home.root)
        .with_context(|| format!("creating {}", home.root.display()))?;
    if home.config().exists() {
        bail!("{} exists already", home.config().display());
    }
    let config = NodeConfig {
        moniker: args.moniker.clone(),
        ..NodeConfig::default()
    };
    std::fs::write(home.config(), config.to_toml()?)?;
    write_node_key(&home.node_key(), &generate_node_key())?;
    if let Some(genesis) = &args.genesis {
        Genesis::load(genesis)?;
        std::fs::copy(genesis, home.genesis())?;
    }
    if let Some(key) = &args.validator_key {
        devnet::read_validator_key(key)?;
        copy_private(key, &home.validator_key())?;
    }
    println!("initialised {}", home.root.display());
    Ok(())
}

fn copy_private(from: &Path, to: &Path) -> Result<()> {
    let bytes = std::fs::read(from)?;
    cairn_node::config::write_private(to, &bytes)?;
    Ok(())
}

fn init_tracing(config: &NodeConfig) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&config.log.level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn start(home: &Path) -> Result<()> {
    let home = Home::new(home);
    let config = NodeConfig::load(&home.config())?;
    init_tracing(&config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("cairn")
        .build()?;
    runtime.block_on(async {
        let node = RunningNode::start(&home, config).await?;
        node.run_until_signal().await
    })?;
    Ok(())
}

/// Where node `index` of a devnet listens.
struct DevnetPorts {
    rpc: u16,
    p2p: u16,
    metrics: u16,
}

fn devnet_ports(base: u16, index: u16) -> Result<DevnetPorts> {
    let port = |offset: u16| {
        base.checked_add(offset)
            .and_then(|p| p.checked_add(index))
            .context("--base-port too high for this many validators")
    };
    Ok(DevnetPorts {
        rpc: port(0)?,
        p2p: port(100)?,
        metrics: port(200)?,
    })
}

fn node_dir(out: &Path, index: usize) -> PathBuf {
    out.join("nodes").join(index.to_string())
}

fn generate_devnet(args: &DevnetArgs) -> Result<()> {
    let seed = match &args.seed {
        Some(text) => {
            let mut seed = [0u8; 32];
            hex::decode_to_slice(text.trim_start_matches("0x"), &mut seed)
                .context("--seed must be 64 hex digits")?;
            Some(seed)
        }
        None => None,
    };
    let consensus = ConsensusParams {
        timeout_propose: Timeout {
            base_ms: 1000,
            per_round_ms: 500,
        },
        timeout_prevote: Timeout {
            base_ms: 500,
            per_round_ms: 250,
        },
        timeout_precommit: Timeout {
            base_ms: 500,
            per_round_ms: 250,
        },
        timeout_commit_ms: args.timeout_commit_ms,
        ..ConsensusParams::default()
    };
    let spec = DevnetSpec {
        chain_id: args.chain_id.clone(),
        consensus,
        validators: usize::from(args.validators),
        accounts: args.accounts,
        balance: args.balance,
        seed,
        ..DevnetSpec::default()
    };
    let net = devnet::generate(&spec)?;
    devnet::write(&args.out, &net)?;

    let count = usize::from(args.validators);
    let node_keys: Vec<_> = (0..count).map(|_| generate_node_key()).collect();
    let mut p2p_addresses: Vec<Multiaddr> = Vec::new();
    for (index, key) in node_keys.iter().enumerate() {
        let ports = devnet_ports(args.base_port, index as u16)?;
        let address: Multiaddr = format!(
            "/ip4/127.0.0.1/tcp/{}/p2p/{}",
            ports.p2p,
            key.public().to_peer_id()
        )
        .parse()?;
        p2p_addresses.push(address);
    }
    for (index, key) in node_keys.iter().enumerate() {
        let ports = devnet_ports(args.base_port, index as u16)?;
        let home = Home::new(node_dir(&args.out, index));
        std::fs::create_dir_all(&home.root)?;
        let mut config = NodeConfig {
            moniker: format!("node{index}"),
            p2p: P2pConfig {
                listen: vec![
                    format!("/ip4/127.0.0.1/tcp/{}", ports.p2p).parse()?,
                    format!("/ip4/127.0.0.1/udp/{}/quic-v1", ports.p2p).parse()?,
                ],
                persistent_peers: p2p_addresses
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != index)
                    .map(|(_, a)| a.clone())
                    .collect(),
                ..P2pConfig::default()
            },
            metrics: MetricsConfig {
                listen: Some(([127, 0, 0, 1], ports.metrics).into()),
            },
            ..NodeConfig::default()
        };
        config.rpc.listen = ([127, 0, 0, 1], ports.rpc).into();
        std::fs::write(home.config(), config.to_toml()?)?;
        std::fs::write(home.genesis(), net.genesis.to_json())?;
        write_node_key(&home.node_key(), key)?;
        copy_private(
            &args
                .out
                .join("validators")
                .join(index.to_string())
                .join("validator_key.json"),
            &home.validator_key(),
        )?;
    }
    write_manifest(&args.out, &[])?;
    println!(
        "devnet of {count} validators and {} accounts in {} (genesis {})",
        args.accounts,
        args.out.display(),
        net.genesis.hash()
    );
    Ok(())
}

#[derive(Serialize)]
struct Manifest {
    chain_id: String,
    genesis_hash: String,
    nodes: Vec<ManifestNode>,
    /// Funded test accounts with their secret keys: for tests only.
    accounts: Vec<ManifestAccount>,
}

#[derive(Serialize)]
struct ManifestNode {
    name: String,
    home: String,
    rpc_url: String,
    ws_url: String,
    metrics_url: Option<String>,
    p2p_address: String,
    node_id: String,
    validator_address: Option<String>,
    pid: Option<u32>,
}

#[derive(Serialize)]
struct ManifestAccount {
    address: String,
    secret_key: String,
}

/// Writes `devnet.json` from the node homes under `dir`, with their pids when given.
fn write_manifest(dir: &Path, pids: &[u32]) -> Result<()> {
    let genesis = Genesis::load(dir.join("genesis.json"))?;
    let mut nodes = Vec::new();
    let mut index = 0;
    loop {
        let home = Home::new(node_dir(dir, index));
        if !home.config().exists() {
            break;
        }
        let config = NodeConfig::load(&home.config())?;
        let node_id = read_node_key(&home.node_key())?.public().to_peer_id();
        let validator = load_validator_key(&home)?;
        let p2p = config
            .p2p
            .listen
            .first()
            .map(|a| format!("{a}/p2p/{node_id}"))
            .unwrap_or_default();
        nodes.push(ManifestNode {
            name: config.moniker.clone(),
            home: home.root.display().to_string(),
            rpc_url: format!("http://{}", config.rpc.listen),
            ws_url: format!("ws://{}", config.rpc.listen),
            metrics_url: config.metrics.listen.map(|a| format!("http://{a}/metrics")),
            p2p_address: p2p,
            node_id: node_id.to_string(),
            validator_address: validator
                .map(|k| Address::from_public_key(&k.public_key()).to_string()),
            pid: pids.get(index).copied(),
        });
        index += 1;
    }
    let accounts = devnet::read_accounts(&dir.join("accounts.json"))?
        .into_iter()
        .map(|(address, key)| ManifestAccount {
            address: address.to_string(),
            secret_key: format!("0x{}", hex::encode(key.seed())),
        })
        .collect();
    let manifest = Manifest {
        chain_id: genesis.chain_id().into(),
        genesis_hash: genesis.hash().to_string(),
        nodes,
        accounts,
    };
    // It holds secret keys: readable by the owner only, replaced atomically.
    let path = dir.join("devnet.json");
    let temp = dir.join("devnet.json.tmp");
    let _ = std::fs::remove_file(&temp);
    cairn_node::config::write_private(&temp, &serde_json::to_vec_pretty(&manifest)?)?;
    std::fs::rename(&temp, &path)?;
    Ok(())
}
