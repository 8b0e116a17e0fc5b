//! `cairn wallet`: keys on disk, encrypted, and the commands that use them against a node's
//! JSON-RPC API.
//!
//! # What it owns
//!
//! - [`derivation`]: recovery phrases (BIP-39, 24 words) and ed25519 keys from them (SLIP-0010 at
//!   `m/44'/17217'/account'/0'/0'`; the coin type is documented there).
//! - [`keystore`]: one encrypted file per key (Argon2id and ChaCha20-Poly1305, mode 0600); the
//!   format is documented there.
//! - [`input`]: passphrases and secrets from a file, the environment or a silent prompt, never
//!   from an argument.
//! - [`verify`]: checking an account answer (Merkle proof, header, commit certificate) against the
//!   genesis validator set, so `balance --verify` trusts the genesis file and not the node.
//! - [`commands`]: the subcommands.
//!
//! # What it does not own
//!
//! The rules of what it checks belong elsewhere: the proof format and transactions to
//! `cairn-ledger`, certificates to `cairn-consensus`, the JSON shapes to `cairn-rpc`. It keeps no
//! state but the keystore files: nonces and balances come from the node each time.
//!
//! # Commands
//!
//! ```text
//! cairn wallet [--wallet-dir DIR] [--rpc URL] [--passphrase-file PATH] <command>
//!   new [NAME] [--account N]            a key from a new recovery phrase, shown once
//!   import [NAME] --mnemonic [--account N] [--from-file PATH]
//!   import [NAME] --secret-key [--from-file PATH]
//!   list
//!   address [NAME]
//!   balance [NAME|ADDRESS] [--verify [--genesis PATH]]
//!   send --to ADDRESS --amount N [--fee F] [--from NAME] [--wait [--wait-secs S]]
//!   tx HASH
//! ```

pub mod commands;
pub mod derivation;
pub mod error;
pub mod input;
pub mod keystore;
pub mod verify;

use std::{io::Write, path::PathBuf};

use clap::{Args, Parser, Subcommand};

pub use commands::{SendRequest, Session};
pub use derivation::{DerivationPath, ExtendedKey, Mnemonic, COIN_TYPE};
pub use error::WalletError;
pub use input::{PassphraseSource, PASSPHRASE_ENV};
pub use keystore::{KdfParams, KeyOrigin, Keystore, StoredKey, WalletDir, DEFAULT_KEY_NAME};
pub use verify::{verify_account_answer, TrustedValidators, VerifiedAccount};

/// The node a wallet talks to when none is given: a local node's default RPC address.
pub const DEFAULT_RPC: &str = "http://127.0.0.1:8545";

/// `cairn wallet`'s options and subcommand.
#[derive(Args, Debug)]
pub struct WalletArgs {
    /// The directory of keystore files [default: ~/.cairn/wallet].
    #[arg(long, env = "CAIRN_WALLET_DIR", global = true)]
    pub wallet_dir: Option<PathBuf>,

    /// The node's JSON-RPC URL.
    #[arg(long, env = "CAIRN_RPC", default_value = DEFAULT_RPC, global = true)]
    pub rpc: String,

    /// Read the keystore passphrase from this file's first line (else CAIRN_WALLET_PASSPHRASE,
    /// else a prompt).
    #[arg(long, global = true)]
    pub passphrase_file: Option<PathBuf>,

    /// Argon2id memory for new keystores, in KiB. Lower it only for tests.
    #[arg(
        long,
        env = "CAIRN_WALLET_KDF_MEMORY_KIB",
        default_value_t = KdfParams::DEFAULT.memory_kib,
        global = true,
        hide = true
    )]
    pub kdf_memory_kib: u32,

    #[command(subcommand)]
    pub command: WalletCommand,
}

/// The subcommands of `cairn wallet`.
#[derive(Subcommand, Debug)]
pub enum WalletCommand {
    /// Create a key from a new 24-word recovery phrase, shown once.
    New {
        /// The key's name in the wallet.
        #[arg(default_value = DEFAULT_KEY_NAME)]
        name: String,
        /// The BIP-44 account index of the key's path.
        #[arg(long, default_value_t = 0)]
        account: u32,
    },
    /// Import a key from a recovery phrase or a raw secret key, read from the terminal, from
    /// standard input or from a file.
    Import(ImportArgs),
    /// List the keys and their addresses.
    List,
    /// Print a key's address.
    Address {
        /// The key; the only one, or `default`, if left out.
        name: Option<String>,
    },
    /// Show an account's balance and nonce.
    Balance {
        /// A key name or an address; the only key, or `default`, if left out.
        target: Option<String>,
        /// Check the node's answer (Merkle proof, header, commit certificate) against the
        /// genesis validator set.
        #[arg(long)]
        verify: bool,
        /// The genesis.json to trust with --verify [default: $CAIRN_HOME/genesis.json].
        #[arg(long, requires = "verify")]
        genesis: Option<PathBuf>,
    },
    /// Sign a transfer and submit it.
    Send(SendArgs),
    /// Show where a transaction is: pending, committed or unknown.
    Tx {
        /// The transaction hash, 0x and 64 hex digits.
        hash: String,
    },
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("kind").required(true).args(["mnemonic", "secret_key"])))]
pub struct ImportArgs {
    /// The key's name in the wallet.
    #[arg(default_value = DEFAULT_KEY_NAME)]
    pub name: String,
    /// Import from a BIP-39 recovery phrase.
    #[arg(long)]
    pub mnemonic: bool,
    /// Import a raw secret key: 0x and 64 hex digits (as in a devnet's accounts.json).
    #[arg(long)]
    pub secret_key: bool,
    /// The BIP-44 account index of the key's path (with --mnemonic).
    #[arg(long, default_value_t = 0, conflicts_with = "secret_key")]
    pub account: u32,
    /// Read the phrase or key from this file rather than the terminal or standard input.
    #[arg(long)]
    pub from_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct SendArgs {
    /// The recipient's address.
    #[arg(long)]
    pub to: String,
    /// The amount, in the chain's smallest unit.
    #[arg(long)]
    pub amount: u64,
    /// The fee paid to the block's proposer.
    #[arg(long, default_value_t = 1)]
    pub fee: u64,
    /// The key to send from; the only one, or `default`, if left out.
    #[arg(long)]
    pub from: Option<String>,
    /// Wait until the transfer is committed and show its receipt.
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits, in seconds.
    #[arg(
        long,
        default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..=commands::MAX_WAIT_SECS)
    )]
    pub wait_secs: u64,
}

/// Parses `cairn wallet`'s arguments on their own (the first item is the program name), for
/// callers that drive the wallet without the `cairn` binary, such as tests.
pub fn parse_args<I, T>(args: I) -> Result<WalletArgs, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    #[derive(Parser, Debug)]
    #[command(name = "cairn-wallet")]
    struct Standalone {
        #[command(flatten)]
        args: WalletArgs,
    }
    Standalone::try_parse_from(args).map(|standalone| standalone.args)
}

/// Runs `cairn wallet` with output to standard output, on a runtime of its own.
pub fn run(args: WalletArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(WalletError::Runtime)?;
    let mut stdout = std::io::stdout().lock();
    runtime.block_on(execute(args, &mut stdout))?;
    Ok(())
}

/// Runs `cairn wallet` with output to `out`, on the caller's runtime.
pub async fn execute(args: WalletArgs, out: &mut dyn Write) -> Result<(), WalletError> {
    let wallet_dir = match args.wallet_dir {
        Some(dir) => dir,
        None => default_wallet_dir()?,
    };
    let mut session = Session {
        wallet: WalletDir::new(wallet_dir),
        rpc_url: args.rpc,
        passphrase: PassphraseSource {
            file: args.passphrase_file,
        },
        kdf: KdfParams::with_memory_kib(args.kdf_memory_kib),
        out,
    };
    match args.command {
        WalletCommand::New { name, account } => session.new_key(&name, account),
        WalletCommand::Import(import) if import.mnemonic => {
            session.import_mnemonic(&import.name, import.account, import.from_file.as_deref())
        }
        WalletCommand::Import(import) => {
            session.import_secret_key(&import.name, import.from_file.as_deref())
        }
        WalletCommand::List => session.list(),
        WalletCommand::Address { name } => session.address(name.as_deref()),
        WalletCommand::Balance {
            target,
            verify,
            genesis,
        } => {
            let trusted = if verify {
                let path = commands::trusted_genesis_path(genesis)?;
                Some(TrustedValidators::load(&path)?)
            } else {
                None
            };
            session.balance(target.as_deref(), trusted.as_ref()).await
        }
        WalletCommand::Send(send) => {
            session
                .send(&SendRequest {
                    from: send.from.as_deref(),
                    to: &send.to,
                    amount: send.amount,
                    fee: send.fee,
                    wait: send.wait.then_some(send.wait_secs),
                })
                .await
        }
        WalletCommand::Tx { hash } => session.tx(&hash).await,
    }
}

/// `~/.cairn/wallet`.
fn default_wallet_dir() -> Result<PathBuf, WalletError> {
    std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .map(|home| PathBuf::from(home).join(".cairn").join("wallet"))
        .ok_or(WalletError::NoWalletDir)
}
