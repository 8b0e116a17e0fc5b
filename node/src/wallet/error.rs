//! The wallet's one error type.

use std::path::PathBuf;

/// Everything that goes wrong in `cairn wallet`: the keystore, the passphrase, the recovery
/// phrase, the node's answers and their verification.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("keystore {path}: {reason}")]
    Keystore { path: PathBuf, reason: String },

    /// The AEAD tag did not verify: the passphrase is wrong, or the file was altered. The two
    /// cannot be told apart, by design.
    #[error("cannot unlock {path}: wrong passphrase, or the keystore file was altered")]
    DecryptionFailed { path: PathBuf },

    #[error("no key named {name:?} in {dir}")]
    NoSuchKey { name: String, dir: PathBuf },

    #[error("a key named {name:?} exists already in {dir}; choose another name")]
    KeyExists { name: String, dir: PathBuf },

    #[error("invalid key name {name:?}: {reason}")]
    InvalidName { name: String, reason: String },

    #[error("the wallet in {dir} holds no keys; create one with `cairn wallet new`")]
    EmptyWallet { dir: PathBuf },

    #[error("the wallet holds several keys ({names}); name the one to use")]
    AmbiguousKey { names: String },

    #[error("no wallet directory: pass --wallet-dir or set CAIRN_WALLET_DIR (HOME is not set)")]
    NoWalletDir,

    #[error("invalid recovery phrase: {reason}")]
    InvalidMnemonic { reason: String },

    #[error("invalid secret key: {reason}")]
    InvalidSecretKey { reason: String },

    #[error("invalid derivation path {path:?}: {reason}")]
    InvalidPath { path: String, reason: String },

    #[error("key derivation failed: {reason}")]
    Derivation { reason: String },

    #[error("passphrase: {reason}")]
    Passphrase { reason: String },

    #[error("invalid keystore KDF parameters: {reason}")]
    KdfParams { reason: String },

    #[error("the operating system's random source failed: {reason}")]
    Randomness { reason: String },

    #[error("invalid address {text:?}: {reason}")]
    InvalidAddress { text: String, reason: String },

    #[error("invalid transaction hash {text:?}: expected 0x and 64 hex digits")]
    InvalidTxHash { text: String },

    #[error("trusted genesis {path}: {reason}")]
    Genesis { path: PathBuf, reason: String },

    #[error(
        "--verify needs a genesis to trust: pass --genesis PATH (or set CAIRN_HOME to a node \
         home holding genesis.json)"
    )]
    NoTrustedGenesis,

    #[error("rpc {method} at {url}: {reason}")]
    Rpc {
        url: String,
        method: &'static str,
        reason: String,
    },

    /// The node's answer failed a check against what the wallet trusts.
    #[error("refused the node's answer: {reason}")]
    Unverified { reason: String },

    #[error(
        "insufficient balance: {address} holds {balance}, the transfer needs {needed} (amount \
         plus fee)"
    )]
    InsufficientBalance {
        address: String,
        balance: u64,
        needed: u128,
    },

    #[error("{what} overflows a 64-bit amount")]
    Overflow { what: &'static str },

    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

impl WalletError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| WalletError::Io {
            action,
            path,
            source,
        }
    }

    /// True when a keystore could not be unlocked with the passphrase given.
    pub fn is_decryption_failure(&self) -> bool {
        matches!(self, WalletError::DecryptionFailed { .. })
    }

    /// True when the node's answer was refused by verification.
    pub fn is_unverified(&self) -> bool {
        matches!(self, WalletError::Unverified { .. })
    }
}
