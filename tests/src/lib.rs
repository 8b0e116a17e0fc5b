//! End-to-end tests of Cairn that start real node processes on loopback.
//!
//! This library is the harness: [`Devnet`] generates a devnet with the `cairn` binary, starts
//! each node as a child process, kills and restarts them, and talks to them over JSON-RPC. Every
//! wait is bounded; dropping a [`Devnet`] kills whatever it started. The tests are in `tests/it`.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use cairn_ledger::{Address, Payload, SecretKey, Transaction};
use jsonrpsee::{
    core::{client::ClientT, params::ArrayParams},
    http_client::{HttpClient, HttpClientBuilder},
};
use serde_json::Value;

/// A failure in the harness or an expectation not met in time.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T> = std::result::Result<T, Error>;

/// Devnets of different tests would fight over two cores: one at a time.
static ONE_DEVNET: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Holds the devnet lock for a test (it works across the tests' separate runtimes).
pub async fn exclusive() -> tokio::sync::MutexGuard<'static, ()> {
    ONE_DEVNET.lock().await
}

/// The `cairn` binary next to the test executable (cargo builds it for the workspace's tests),
/// or `CAIRN_BIN`.
pub fn cairn_binary() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("CAIRN_BIN") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("test executable has no parent directory")?;
    // Tests run from target/debug/deps, benches from target/release/deps.
    let path = dir.join("cairn");
    if !path.exists() {
        return Err(format!(
            "{} not found: build it with `cargo build --bin cairn` or set CAIRN_BIN",
            path.display()
        )
        .into());
    }
    Ok(path)
}

/// One node of a devnet.
#[derive(Debug)]
pub struct Node {
    pub index: usize,
    pub home: PathBuf,
    pub rpc_url: String,
    child: Option<Child>,
}

impl Node {
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(None)))
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn log_path(&self) -> PathBuf {
        self.home.join("node.log")
    }

    pub fn wal_path(&self) -> PathBuf {
        self.home.join("data").join("wal").join("consensus.wal")
    }

    pub fn client(&self) -> Result<HttpClient> {
        Ok(HttpClientBuilder::default()
            .request_timeout(Duration::from_secs(10))
            .build(&self.rpc_url)?)
    }
}

/// A devnet of real `cairn` processes.
#[derive(Debug)]
pub struct Devnet {
    pub dir: tempfile::TempDir,
    pub nodes: Vec<Node>,
    pub accounts: Vec<(Address, SecretKey)>,
    pub chain_id: String,
    binary: PathBuf,
}

impl Devnet {
    /// Generates a devnet of `validators` nodes with RPC from `base_port` up, and starts them all.
    pub fn start(validators: usize, base_port: u16) -> Result<Devnet> {
        let mut devnet = Devnet::generate(validators, base_port)?;
        for index in 0..validators {
            devnet.start_node(index)?;
        }
        Ok(devnet)
    }

    /// Generates a devnet of `validators` nodes with RPC from `base_port` up; starts none.
    pub fn generate(validators: usize, base_port: u16) -> Result<Devnet> {
        let binary = cairn_binary()?;
        let dir = tempfile::Builder::new().prefix("cairn-e2e").tempdir()?;
        let out = dir.path().join("net");
        let status = Command::new(&binary)
            .args(["genesis", "devnet", "--validators"])
            .arg(validators.to_string())
            .args(["--accounts", "16", "--base-port"])
            .arg(base_port.to_string())
            .args(["--timeout-commit-ms", "200"])
            .arg("--out")
            .arg(&out)
            .stdout(Stdio::null())
            .status()?;
        if !status.success() {
            return Err("cairn genesis devnet failed".into());
        }
        let accounts = cairn_genesis::devnet::read_accounts(&out.join("accounts.json"))?;
        let chain_id = "cairn-devnet".to_string();
        let nodes = (0..validators)
            .map(|index| Node {
                index,
                home: out.join("nodes").join(index.to_string()),
                rpc_url: format!("http://127.0.0.1:{}", usize::from(base_port) + index),
                child: None,
            })
            .collect();
        Ok(Devnet {
            dir,
            nodes,
            accounts,
            chain_id,
            binary,
        })
    }

    /// Starts (or restarts) node `index`; its output goes to `node.log` in its home.
    pub fn start_node(&mut self, index: usize) -> Result<()> {
        let node = self.nodes.get_mut(index).ok_or("no such node")?;
        if node.is_running() {
            return Ok(());
        }
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.log_path())?;
        let child = Command::new(&self.binary)
            .arg("start")
            .arg("--home")
            .arg(&node.home)
            .env("RUST_LOG", "info")
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        node.child = Some(child);
        Ok(())
    }

    /// Kills node `index` with SIGKILL: no chance to flush anything.
    pub fn kill_node(&mut self, index: usize) -> Result<()> {
        let node = self.nodes.get_mut(index).ok_or("no such node")?;
        if let Some(mut child) = node.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Stops node `index` with SIGTERM and waits for it to exit cleanly.
    pub fn terminate_node(&mut self, index: usize) -> Result<()> {
        let node = self.nodes.get_mut(index).ok_or("no such node")?;
        if let Some(mut child) = node.child.take() {
            let pid = child.id().to_string();
            Command::new("kill").args(["-TERM", &pid]).status()?;
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Some(status) = child.try_wait()? {
                    if !status.success() {
                        return Err(format!("node {index} exited with {status}").into());
                    }
                    return Ok(());
                }
                if Instant::now() > deadline {
                    child.kill()?;
                    return Err(format!("node {index} did not stop on SIGTERM").into());
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(())
    }

    /// Signs a transfer from funded account `from` (with `nonce`) and returns its 0x-hex bytes.
    pub fn transfer_hex(
        &self,
        from: usize,
        to: Address,
        amount: u64,
        nonce: u64,
    ) -> Result<String> {
        let (_, key) = self.accounts.get(from).ok_or("no such account")?;
        let tx = Transaction {
            chain_id: self.chain_id.clone(),
            signer: key.public_key(),
            nonce,
            fee: 1,
            payload: Payload::Transfer { to, amount },
        }
        .sign(key);
        Ok(format!("0x{}", hex::encode(tx.encode())))
    }

    /// Dumps the tail of every node's log to stderr, for a failing test's output.
    pub fn dump_logs(&self, lines: usize) {
        for node in &self.nodes {
            let text = fs::read_to_string(node.log_path()).unwrap_or_default();
            let all: Vec<&str> = text.lines().collect();
            let start = all.len().saturating_sub(lines);
            eprintln!(
                "----- node {} ({}) -----",
                node.index,
                node.log_path().display()
            );
            for line in &all[start..] {
                eprintln!("{line}");
            }
        }
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// Calls a JSON-RPC method with positional parameters.
pub async fn call(client: &HttpClient, method: &str, params: Vec<Value>) -> Result<Value> {
    let mut array = ArrayParams::new();
    for param in params {
        array.insert(param)?;
    }
    Ok(client.request::<Value, _>(method, array).await?)
}

/// Polls `check` every 200 ms until it returns `Some`, or fails after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        if Instant::now() > deadline {
            return Err(format!("timed out after {timeout:?} waiting for {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
