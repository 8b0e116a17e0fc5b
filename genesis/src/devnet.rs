//! Devnet generation: a genesis with fresh validator and account keys, and the files to start from.
//!
//! # Keys
//!
//! Every key's 32-byte RFC 8032 seed is
//! `SHA-256("cairn/devnet-key/v1" ‖ seed ‖ role ‖ 0x00 ‖ index (u64 LE))`, where `seed` is the
//! spec's 32-byte seed and `role` is the ASCII `validator` or `account`. With a seed the devnet is
//! reproducible: the same spec gives the same keys and the same genesis hash on every machine.
//! Without one, the seed is 32 bytes from the operating system's random source (`/dev/urandom`);
//! it is not kept, so the written key files are the only copy of the keys.
//!
//! # Files
//!
//! [`write()`] lays out, under a directory:
//!
//! ```text
//! genesis.json                         the genesis (mode 0644)
//! validators/<i>/validator_key.json    validator i's key (mode 0600)
//! accounts.json                        every funded account's address and key (mode 0600)
//! ```
//!
//! `validator_key.json` holds `{"name", "public_key", "address", "secret_key"}`, `accounts.json` an
//! array of `{"address", "secret_key"}`; keys are `0x`-hex, a secret key being its RFC 8032 seed.
//! [`read_validator_key`] and [`read_accounts`] read them back and check that each secret key
//! matches the public key or address next to it. [`write()`] never overwrites a file: a directory that
//! already holds a devnet is an error, not a silent change of keys.

use std::{
    fs::{self, File, OpenOptions},
    io::{Read, Write},
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

use cairn_ledger::{Address, Hash, SecretKey};
use serde::{Deserialize, Serialize};

use crate::{
    error::GenesisError,
    file::{AccountEntry, ConsensusParamsFile, GenesisFile, ValidatorEntry},
    genesis::{ConsensusParams, Genesis, MAX_ACCOUNTS, MAX_VALIDATORS},
    time,
};

/// Domain tag in front of every devnet key derivation.
pub const DEVNET_KEY_DOMAIN: &[u8] = b"cairn/devnet-key/v1";

/// Largest key file read back: they are a few hundred bytes; `accounts.json` about 170 per account.
const MAX_KEY_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// What devnet to make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevnetSpec {
    pub chain_id: String,
    /// Milliseconds since the Unix epoch; 0 (the default) lets the first block come at once.
    pub genesis_time_ms: u64,
    pub consensus: ConsensusParams,
    /// Number of validators, each with voting power 1, named `validator-<i>`.
    pub validators: usize,
    /// Number of funded test accounts.
    pub accounts: usize,
    /// Balance of each funded account.
    pub balance: u64,
    /// Seed of every key; `None` draws one from the operating system.
    pub seed: Option<[u8; 32]>,
}

impl Default for DevnetSpec {
    /// Four validators and sixteen accounts of 10¹² units each on `cairn-devnet`, random keys.
    fn default() -> Self {
        DevnetSpec {
            chain_id: "cairn-devnet".into(),
            genesis_time_ms: 0,
            consensus: ConsensusParams::default(),
            validators: 4,
            accounts: 16,
            balance: 1_000_000_000_000,
            seed: None,
        }
    }
}

/// A generated devnet: its genesis and the secret keys of its validators and funded accounts,
/// index for index in the order of the genesis file.
#[derive(Clone, Debug)]
pub struct Devnet {
    pub genesis: Genesis,
    pub validator_keys: Vec<SecretKey>,
    pub account_keys: Vec<SecretKey>,
}

/// Generates a devnet; the result passes the same validation as any `genesis.json`.
pub fn generate(spec: &DevnetSpec) -> Result<Devnet, GenesisError> {
    // Refuse absurd counts before deriving a single key.
    for (field, count, max) in [
        ("validators", spec.validators, MAX_VALIDATORS),
        ("accounts", spec.accounts, MAX_ACCOUNTS),
    ] {
        if count > max {
            return Err(GenesisError::TooMany {
                field: field.into(),
                count,
                max,
            });
        }
    }
    let seed = match spec.seed {
        Some(seed) => seed,
        None => random_seed()?,
    };
    let validator_keys: Vec<SecretKey> = (0..spec.validators)
        .map(|index| derive_key(&seed, b"validator", index))
        .collect();
    let account_keys: Vec<SecretKey> = (0..spec.accounts)
        .map(|index| derive_key(&seed, b"account", index))
        .collect();
    let file = GenesisFile {
        chain_id: spec.chain_id.clone(),
        genesis_time: time::format(spec.genesis_time_ms),
        initial_height: 1,
        consensus: ConsensusParamsFile::from(&spec.consensus),
        validators: validator_keys
            .iter()
            .enumerate()
            .map(|(index, key)| ValidatorEntry {
                name: format!("validator-{index}"),
                public_key: key.public_key().to_string(),
                power: 1,
            })
            .collect(),
        accounts: account_keys
            .iter()
            .map(|key| AccountEntry {
                address: Address::from_public_key(&key.public_key()).to_string(),
                balance: spec.balance.to_string(),
            })
            .collect(),
    };
    Ok(Devnet {
        genesis: Genesis::from_file(file)?,
        validator_keys,
        account_keys,
    })
}

/// The key of the `index`-th member of `role` (see the module documentation).
pub fn derive_key(seed: &[u8; 32], role: &[u8], index: usize) -> SecretKey {
    let index = u64::try_from(index).unwrap_or(u64::MAX);
    let digest = Hash::digest_parts(&[DEVNET_KEY_DOMAIN, seed, role, &[0], &index.to_le_bytes()]);
    SecretKey::from_seed(digest.0)
}

/// 32 bytes from the operating system's random source.
pub fn random_seed() -> Result<[u8; 32], GenesisError> {
    let mut seed = [0u8; 32];
    File::open("/dev/urandom")
        .and_then(|mut source| source.read_exact(&mut seed))
        .map_err(|source| GenesisError::Randomness { source })?;
    Ok(seed)
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ValidatorKeyFile {
    name: String,
    public_key: String,
    address: String,
    secret_key: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountKeyEntry {
    address: String,
    secret_key: String,
}

/// Writes the devnet's files under `dir` (created if missing); see the module documentation.
pub fn write(dir: &Path, devnet: &Devnet) -> Result<(), GenesisError> {
    create_dir(dir)?;
    write_new(
        &dir.join("genesis.json"),
        devnet.genesis.to_json().as_bytes(),
        0o644,
    )?;

    let validators = devnet.genesis.validators();
    for (index, key) in devnet.validator_keys.iter().enumerate() {
        let name = validators
            .get(index)
            .map_or_else(|| format!("validator-{index}"), |v| v.name.clone());
        let key_dir = dir.join("validators").join(index.to_string());
        create_dir(&key_dir)?;
        write_validator_key(&key_dir.join("validator_key.json"), &name, key)?;
    }

    let accounts: Vec<AccountKeyEntry> = devnet
        .account_keys
        .iter()
        .map(|key| AccountKeyEntry {
            address: Address::from_public_key(&key.public_key()).to_string(),
            secret_key: secret_hex(key),
        })
        .collect();
    write_new(&dir.join("accounts.json"), &to_json(&accounts), 0o600)
}

/// Writes one `validator_key.json` (mode 0600); an existing file is an error.
pub fn write_validator_key(path: &Path, name: &str, key: &SecretKey) -> Result<(), GenesisError> {
    let file = ValidatorKeyFile {
        name: name.into(),
        public_key: key.public_key().to_string(),
        address: Address::from_public_key(&key.public_key()).to_string(),
        secret_key: secret_hex(key),
    };
    write_new(path, &to_json(&file), 0o600)
}

/// Reads a `validator_key.json`, checking that its secret key matches its public key.
pub fn read_validator_key(path: &Path) -> Result<SecretKey, GenesisError> {
    let file: ValidatorKeyFile = read_json(path)?;
    let key = parse_secret(path, &file.secret_key)?;
    if key.public_key().to_string() != file.public_key.to_ascii_lowercase() {
        return Err(invalid_key_file(
            path,
            "the secret key does not match public_key".into(),
        ));
    }
    Ok(key)
}

/// Reads an `accounts.json`, checking that each secret key matches its address.
pub fn read_accounts(path: &Path) -> Result<Vec<(Address, SecretKey)>, GenesisError> {
    let entries: Vec<AccountKeyEntry> = read_json(path)?;
    entries
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            let key = parse_secret(path, &entry.secret_key)?;
            let address = Address::from_public_key(&key.public_key());
            if entry.address.parse::<Address>().ok() != Some(address) {
                return Err(invalid_key_file(
                    path,
                    format!("[{index}]: the secret key does not match the address"),
                ));
            }
            Ok((address, key))
        })
        .collect()
}

fn secret_hex(key: &SecretKey) -> String {
    format!("0x{}", hex::encode(key.seed()))
}

fn parse_secret(path: &Path, text: &str) -> Result<SecretKey, GenesisError> {
    let digits = text
        .strip_prefix("0x")
        .ok_or_else(|| invalid_key_file(path, "secret_key must start with 0x".into()))?;
    let mut seed = [0u8; 32];
    hex::decode_to_slice(digits, &mut seed)
        .map_err(|_| invalid_key_file(path, "secret_key must be 64 hex digits".into()))?;
    Ok(SecretKey::from_seed(seed))
}

fn invalid_key_file(path: &Path, reason: String) -> GenesisError {
    GenesisError::InvalidKeyFile {
        path: path.to_path_buf(),
        reason,
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, GenesisError> {
    let read_error = |source| GenesisError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut text = String::new();
    File::open(path)
        .map_err(read_error)?
        .take(MAX_KEY_FILE_BYTES)
        .read_to_string(&mut text)
        .map_err(read_error)?;
    serde_json::from_str(&text).map_err(|error| invalid_key_file(path, error.to_string()))
}

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising plain strings into a Vec cannot fail.
    let mut bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

fn create_dir(dir: &Path) -> Result<(), GenesisError> {
    fs::create_dir_all(dir).map_err(|source| write_error(dir, source))
}

/// Creates `path` with `mode` (failing if it exists), writes `bytes` and syncs it. The mode is
/// set at creation, so a secret is never readable by others even for a moment, and set again
/// afterwards because the process's umask may have narrowed it.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), GenesisError> {
    let result = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .and_then(|mut file| {
            file.set_permissions(fs::Permissions::from_mode(mode))?;
            file.write_all(bytes)?;
            file.sync_all()
        });
    result.map_err(|source| write_error(path, source))
}

fn write_error(path: &Path, source: std::io::Error) -> GenesisError {
    GenesisError::Write {
        path: PathBuf::from(path),
        source,
    }
}
