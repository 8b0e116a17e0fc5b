//! Keys at rest: one encrypted JSON file per key, in a wallet directory.
//!
//! # File format (version 1)
//!
//! `<wallet dir>/<name>.json`, mode 0600, in a directory of mode 0700:
//!
//! ```json
//! {
//!   "version": 1,
//!   "address": "cairn1…",
//!   "publicKey": "0x…32 bytes…",
//!   "origin": { "type": "mnemonic", "path": "m/44'/17217'/0'/0'/0'" },
//!   "crypto": {
//!     "kdf": "argon2id",
//!     "kdfParams": { "memoryKib": 65536, "iterations": 3, "parallelism": 1, "salt": "0x…16 bytes…" },
//!     "cipher": "chacha20poly1305",
//!     "nonce": "0x…12 bytes…",
//!     "ciphertext": "0x…32-byte secret key, then the 16-byte tag…"
//!   }
//! }
//! ```
//!
//! `origin` is `{"type": "secretKey"}` for an imported raw key. The secret is the key's 32-byte
//! RFC 8032 seed, never the recovery phrase (which `cairn wallet new` shows once and forgets).
//!
//! - The key that encrypts is Argon2id (version 0x13) of the passphrase with a fresh random salt,
//!   at the parameters the file records. The default, [`KdfParams::DEFAULT`], is RFC 9106's
//!   second recommended option with one lane: 64 MiB and 3 passes. Files are read with the
//!   parameters they record, within [`KdfParams::check`]'s bounds (so a hostile file cannot make
//!   the wallet allocate without limit).
//! - The cipher is ChaCha20-Poly1305 (RFC 8439) with a fresh random 96-bit nonce. The associated
//!   data binds everything else the file says (version, public key, origin and KDF parameters),
//!   so editing any of them makes decryption fail like a wrong passphrase; after decryption the
//!   secret must also yield the recorded public key.
//! - The address and public key are in the clear, so `list` and `address` need no passphrase.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use argon2::{Algorithm, Argon2, Block, Params, Version};
use cairn_ledger::{Address, PublicKey, SecretKey};
use chacha20poly1305::{
    aead::{Aead, KeyInit, Payload},
    ChaCha20Poly1305, Key, Nonce,
};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use super::{
    derivation::{fill_random, DerivationPath},
    error::WalletError,
};

/// The keystore format this code writes and reads.
pub const KEYSTORE_VERSION: u32 = 1;

/// Domain tag at the start of the associated data.
const AAD_DOMAIN: &[u8] = b"cairn/keystore/v1\0";

const KDF_NAME: &str = "argon2id";
const CIPHER_NAME: &str = "chacha20poly1305";
const SALT_BYTES: usize = 16;
const NONCE_BYTES: usize = 12;
const SECRET_BYTES: usize = 32;
const TAG_BYTES: usize = 16;

/// Largest keystore file read; a real one is well under 1 KiB.
const MAX_KEYSTORE_BYTES: u64 = 64 * 1024;

/// Longest key name.
const MAX_NAME_CHARS: usize = 64;

/// Argon2id's cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory, in KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl KdfParams {
    /// 64 MiB, 3 passes, 1 lane (RFC 9106, section 4, second option, with one lane as the
    /// command runs single-threaded): about a quarter of a second on a laptop.
    pub const DEFAULT: KdfParams = KdfParams {
        memory_kib: 64 * 1024,
        iterations: 3,
        parallelism: 1,
    };

    /// The most memory a keystore may ask for when it is read: 1 GiB.
    pub const MAX_MEMORY_KIB: u32 = 1024 * 1024;
    pub const MAX_ITERATIONS: u32 = 64;
    pub const MAX_PARALLELISM: u32 = 16;

    /// The default costs with `memory_kib` of memory; tests use a few KiB to stay fast.
    pub fn with_memory_kib(memory_kib: u32) -> KdfParams {
        KdfParams {
            memory_kib,
            ..KdfParams::DEFAULT
        }
    }

    /// Whether these parameters are weaker than [`KdfParams::DEFAULT`].
    pub fn is_weaker_than_default(&self) -> bool {
        self.memory_kib < KdfParams::DEFAULT.memory_kib
            || self.iterations < KdfParams::DEFAULT.iterations
    }

    /// Checks that Argon2 accepts the parameters and that they stay within this wallet's bounds.
    pub fn check(&self) -> Result<(), WalletError> {
        let invalid = |reason: String| Err(WalletError::KdfParams { reason });
        if self.parallelism == 0 || self.parallelism > Self::MAX_PARALLELISM {
            return invalid(format!(
                "parallelism {} is not in 1..={}",
                self.parallelism,
                Self::MAX_PARALLELISM
            ));
        }
        if self.iterations == 0 || self.iterations > Self::MAX_ITERATIONS {
            return invalid(format!(
                "iterations {} is not in 1..={}",
                self.iterations,
                Self::MAX_ITERATIONS
            ));
        }
        let min_memory = 8u32.saturating_mul(self.parallelism);
        if self.memory_kib < min_memory || self.memory_kib > Self::MAX_MEMORY_KIB {
            return invalid(format!(
                "memory {} KiB is not in {min_memory}..={} KiB",
                self.memory_kib,
                Self::MAX_MEMORY_KIB
            ));
        }
        Ok(())
    }

    /// The 32-byte key Argon2id derives from `passphrase` and `salt`.
    fn derive_key(
        &self,
        passphrase: &[u8],
        salt: &[u8],
    ) -> Result<Zeroizing<[u8; 32]>, WalletError> {
        self.check()?;
        let kdf_error = |error: argon2::Error| WalletError::KdfParams {
            reason: error.to_string(),
        };
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, Some(32))
            .map_err(kdf_error)?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let mut memory = vec![Block::default(); params.block_count()];
        let mut key = Zeroizing::new([0u8; 32]);
        let result = argon2.hash_password_into_with_memory(
            passphrase,
            salt,
            key.as_mut_slice(),
            &mut memory,
        );
        // The memory holds values derived from the passphrase.
        memory.iter_mut().for_each(Zeroize::zeroize);
        result.map_err(kdf_error)?;
        Ok(key)
    }
}

impl Default for KdfParams {
    fn default() -> Self {
        KdfParams::DEFAULT
    }
}

/// Where a key came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyOrigin {
    /// Derived from a recovery phrase at this path.
    Mnemonic { path: DerivationPath },
    /// Imported as a raw secret key.
    SecretKey,
}

impl std::fmt::Display for KeyOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyOrigin::Mnemonic { path } => write!(f, "recovery phrase, {path}"),
            KeyOrigin::SecretKey => f.write_str("imported secret key"),
        }
    }
}

/// The file's JSON, as written.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct KeystoreJson {
    version: u32,
    address: String,
    public_key: String,
    origin: OriginJson,
    crypto: CryptoJson,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
enum OriginJson {
    Mnemonic { path: String },
    SecretKey,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CryptoJson {
    kdf: String,
    kdf_params: KdfParamsJson,
    cipher: String,
    nonce: String,
    ciphertext: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct KdfParamsJson {
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
    salt: String,
}

/// An encrypted key: what a keystore file holds, checked and decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keystore {
    pub address: Address,
    pub public_key: PublicKey,
    pub origin: KeyOrigin,
    pub kdf: KdfParams,
    salt: [u8; SALT_BYTES],
    nonce: [u8; NONCE_BYTES],
    ciphertext: Vec<u8>,
}

impl Keystore {
    /// Encrypts `key` under `passphrase`, with a fresh salt and nonce.
    pub fn encrypt(
        key: &SecretKey,
        origin: KeyOrigin,
        passphrase: &[u8],
        kdf: KdfParams,
    ) -> Result<Keystore, WalletError> {
        if passphrase.is_empty() {
            return Err(WalletError::Passphrase {
                reason: "the passphrase is empty".into(),
            });
        }
        let mut salt = [0u8; SALT_BYTES];
        let mut nonce = [0u8; NONCE_BYTES];
        fill_random(&mut salt)?;
        fill_random(&mut nonce)?;
        let public_key = key.public_key();
        let mut keystore = Keystore {
            address: Address::from_public_key(&public_key),
            public_key,
            origin,
            kdf,
            salt,
            nonce,
            ciphertext: Vec::new(),
        };
        let cipher_key = kdf.derive_key(passphrase, &salt)?;
        let cipher = ChaCha20Poly1305::new(Key::from_slice(cipher_key.as_slice()));
        let secret = Zeroizing::new(key.seed());
        let aad = keystore.associated_data();
        keystore.ciphertext = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret.as_slice(),
                    aad: &aad,
                },
            )
            .map_err(|_| WalletError::Derivation {
                reason: "encryption failed".into(),
            })?;
        Ok(keystore)
    }

    /// Decrypts the secret key with `passphrase`. `path` names the file in errors.
    pub fn decrypt(&self, passphrase: &[u8], path: &Path) -> Result<SecretKey, WalletError> {
        let cipher_key = self.kdf.derive_key(passphrase, &self.salt)?;
        let cipher = ChaCha20Poly1305::new(Key::from_slice(cipher_key.as_slice()));
        let aad = self.associated_data();
        let plaintext = Zeroizing::new(
            cipher
                .decrypt(
                    Nonce::from_slice(&self.nonce),
                    Payload {
                        msg: &self.ciphertext,
                        aad: &aad,
                    },
                )
                .map_err(|_| WalletError::DecryptionFailed { path: path.into() })?,
        );
        let mut seed = Zeroizing::new([0u8; SECRET_BYTES]);
        if plaintext.len() != SECRET_BYTES {
            return Err(keystore_error(path, "the secret is not 32 bytes"));
        }
        seed.copy_from_slice(&plaintext);
        let key = SecretKey::from_seed(*seed);
        if key.public_key() != self.public_key {
            return Err(keystore_error(
                path,
                "the secret key does not match the public key",
            ));
        }
        Ok(key)
    }

    /// The JSON text of the file.
    pub fn to_json(&self) -> String {
        let json = KeystoreJson {
            version: KEYSTORE_VERSION,
            address: self.address.to_string(),
            public_key: self.public_key.to_string(),
            origin: match &self.origin {
                KeyOrigin::Mnemonic { path } => OriginJson::Mnemonic {
                    path: path.to_string(),
                },
                KeyOrigin::SecretKey => OriginJson::SecretKey,
            },
            crypto: CryptoJson {
                kdf: KDF_NAME.into(),
                kdf_params: KdfParamsJson {
                    memory_kib: self.kdf.memory_kib,
                    iterations: self.kdf.iterations,
                    parallelism: self.kdf.parallelism,
                    salt: hex_text(&self.salt),
                },
                cipher: CIPHER_NAME.into(),
                nonce: hex_text(&self.nonce),
                ciphertext: hex_text(&self.ciphertext),
            },
        };
        let mut text = serde_json::to_string_pretty(&json).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Parses and checks a file's JSON text. `path` names the file in errors.
    pub fn from_json(text: &str, path: &Path) -> Result<Keystore, WalletError> {
        let invalid = |reason: String| keystore_error(path, &reason);
        // Read the version alone first, so a newer file gets a clear error rather than a
        // complaint about a field this version does not know.
        let version = serde_json::from_str::<serde_json::Value>(text)
            .map_err(|error| invalid(format!("not JSON: {error}")))?
            .get("version")
            .and_then(serde_json::Value::as_u64);
        match version {
            Some(version) if version == u64::from(KEYSTORE_VERSION) => {}
            Some(version) => {
                return Err(invalid(format!(
                    "keystore version {version} is not supported (this cairn reads version \
                     {KEYSTORE_VERSION})"
                )))
            }
            None => return Err(invalid("no version field".into())),
        }
        let json: KeystoreJson =
            serde_json::from_str(text).map_err(|error| invalid(error.to_string()))?;
        if json.crypto.kdf != KDF_NAME {
            return Err(invalid(format!("unknown kdf {:?}", json.crypto.kdf)));
        }
        if json.crypto.cipher != CIPHER_NAME {
            return Err(invalid(format!("unknown cipher {:?}", json.crypto.cipher)));
        }
        let public_key = PublicKey::from_hex(&json.public_key)
            .ok_or_else(|| invalid("publicKey is not 32 bytes of 0x-hex".into()))?;
        let address: Address = json
            .address
            .parse()
            .map_err(|error| invalid(format!("address: {error}")))?;
        if address != Address::from_public_key(&public_key) {
            return Err(invalid("the address is not the public key's".into()));
        }
        let origin = match &json.origin {
            OriginJson::Mnemonic { path } => KeyOrigin::Mnemonic {
                path: path.parse()?,
            },
            OriginJson::SecretKey => KeyOrigin::SecretKey,
        };
        let params = &json.crypto.kdf_params;
        let kdf = KdfParams {
            memory_kib: params.memory_kib,
            iterations: params.iterations,
            parallelism: params.parallelism,
        };
        kdf.check()
            .map_err(|error| invalid(format!("kdfParams: {error}")))?;
        let salt = fixed_hex::<SALT_BYTES>(&params.salt)
            .ok_or_else(|| invalid(format!("salt is not {SALT_BYTES} bytes of 0x-hex")))?;
        let nonce = fixed_hex::<NONCE_BYTES>(&json.crypto.nonce)
            .ok_or_else(|| invalid(format!("nonce is not {NONCE_BYTES} bytes of 0x-hex")))?;
        let ciphertext = json
            .crypto
            .ciphertext
            .strip_prefix("0x")
            .and_then(|digits| hex::decode(digits).ok())
            .filter(|bytes| bytes.len() == SECRET_BYTES + TAG_BYTES)
            .ok_or_else(|| {
                invalid(format!(
                    "ciphertext is not {} bytes of 0x-hex",
                    SECRET_BYTES + TAG_BYTES
                ))
            })?;
        Ok(Keystore {
            address,
            public_key,
            origin,
            kdf,
            salt,
            nonce,
            ciphertext,
        })
    }

    /// What the AEAD authenticates besides the secret: every other field of the file (the salt
    /// and nonce are bound already, through the key and the cipher).
    fn associated_data(&self) -> Vec<u8> {
        let origin = match &self.origin {
            KeyOrigin::Mnemonic { path } => format!("mnemonic:{path}"),
            KeyOrigin::SecretKey => "secretKey".into(),
        };
        let mut aad = AAD_DOMAIN.to_vec();
        aad.extend_from_slice(&KEYSTORE_VERSION.to_le_bytes());
        aad.extend_from_slice(self.public_key.as_bytes());
        aad.extend_from_slice(&self.kdf.memory_kib.to_le_bytes());
        aad.extend_from_slice(&self.kdf.iterations.to_le_bytes());
        aad.extend_from_slice(&self.kdf.parallelism.to_le_bytes());
        aad.extend_from_slice(origin.as_bytes());
        aad
    }
}

/// A key file in a wallet directory, not yet unlocked.
#[derive(Clone, Debug)]
pub struct StoredKey {
    pub name: String,
    pub path: PathBuf,
    pub keystore: Keystore,
}

impl StoredKey {
    pub fn address(&self) -> Address {
        self.keystore.address
    }

    /// Decrypts the secret key.
    pub fn unlock(&self, passphrase: &[u8]) -> Result<SecretKey, WalletError> {
        self.keystore.decrypt(passphrase, &self.path)
    }
}

/// A directory of keystore files, one per key, named `<name>.json`.
#[derive(Clone, Debug)]
pub struct WalletDir {
    dir: PathBuf,
}

impl WalletDir {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        WalletDir { dir: dir.into() }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The file of key `name`, after checking the name.
    pub fn key_path(&self, name: &str) -> Result<PathBuf, WalletError> {
        check_name(name)?;
        Ok(self.dir.join(format!("{name}.json")))
    }

    /// The names of the keys, sorted; none if the directory does not exist.
    pub fn names(&self) -> Result<Vec<String>, WalletError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(WalletError::io("read", &self.dir)(error)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(WalletError::io("read", &self.dir))?;
            let file_name = entry.file_name();
            let Some(name) = file_name
                .to_str()
                .and_then(|file_name| file_name.strip_suffix(".json"))
            else {
                continue;
            };
            if check_name(name).is_ok() {
                names.push(name.to_string());
            }
        }
        names.sort();
        Ok(names)
    }

    /// Reads key `name`.
    pub fn load(&self, name: &str) -> Result<StoredKey, WalletError> {
        let path = self.key_path(name)?;
        let meta = match fs::metadata(&path) {
            Ok(meta) => meta,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(WalletError::NoSuchKey {
                    name: name.into(),
                    dir: self.dir.clone(),
                })
            }
            Err(error) => return Err(WalletError::io("read", &path)(error)),
        };
        if meta.len() > MAX_KEYSTORE_BYTES {
            return Err(keystore_error(
                &path,
                &format!("{} bytes, at most {MAX_KEYSTORE_BYTES}", meta.len()),
            ));
        }
        let text = fs::read_to_string(&path).map_err(WalletError::io("read", &path))?;
        let keystore = Keystore::from_json(&text, &path)?;
        Ok(StoredKey {
            name: name.into(),
            path,
            keystore,
        })
    }

    /// Every key, sorted by name.
    pub fn keys(&self) -> Result<Vec<StoredKey>, WalletError> {
        self.names()?.iter().map(|name| self.load(name)).collect()
    }

    /// The key to use: `name` if given; otherwise the only key, or the one named `default`.
    pub fn resolve(&self, name: Option<&str>) -> Result<StoredKey, WalletError> {
        if let Some(name) = name {
            return self.load(name);
        }
        let names = self.names()?;
        match names.as_slice() {
            [] => Err(WalletError::EmptyWallet {
                dir: self.dir.clone(),
            }),
            [only] => self.load(only),
            _ if names.iter().any(|n| n == DEFAULT_KEY_NAME) => self.load(DEFAULT_KEY_NAME),
            _ => Err(WalletError::AmbiguousKey {
                names: names.join(", "),
            }),
        }
    }

    /// Writes key `name` (mode 0600), creating the directory (mode 0700) if needed. An existing
    /// key is never overwritten, and a crash leaves either no file or the whole file.
    pub fn save(&self, name: &str, keystore: &Keystore) -> Result<PathBuf, WalletError> {
        let path = self.key_path(name)?;
        self.create_dir()?;
        if path.exists() {
            return Err(WalletError::KeyExists {
                name: name.into(),
                dir: self.dir.clone(),
            });
        }
        let temp = self.dir.join(format!(".{name}.json.tmp"));
        let _ = fs::remove_file(&temp);
        write_private(&temp, keystore.to_json().as_bytes())?;
        // A hard link, unlike a rename, fails rather than replace a file that appeared meanwhile.
        let linked = fs::hard_link(&temp, &path);
        let _ = fs::remove_file(&temp);
        match linked {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(WalletError::KeyExists {
                    name: name.into(),
                    dir: self.dir.clone(),
                })
            }
            Err(error) => return Err(WalletError::io("create", &path)(error)),
        }
        if let Ok(dir) = fs::File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        Ok(path)
    }

    fn create_dir(&self) -> Result<(), WalletError> {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder
            .create(&self.dir)
            .map_err(WalletError::io("create", &self.dir))
    }
}

/// The name `new` and `import` give a key when none is given.
pub const DEFAULT_KEY_NAME: &str = "default";

/// Names are 1 to 64 of `A-Z a-z 0-9 - _ .`, not starting with `.`: safe as file names.
pub fn check_name(name: &str) -> Result<(), WalletError> {
    let invalid = |reason: &str| {
        Err(WalletError::InvalidName {
            name: name.into(),
            reason: reason.into(),
        })
    };
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return invalid("must be 1 to 64 characters");
    }
    if name.starts_with('.') {
        return invalid("must not start with a dot");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return invalid("may hold only letters, digits, '-', '_' and '.'");
    }
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), WalletError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(WalletError::io("create", path))?;
    file.write_all(bytes)
        .map_err(WalletError::io("write", path))?;
    file.sync_all().map_err(WalletError::io("sync", path))
}

fn keystore_error(path: &Path, reason: &str) -> WalletError {
    WalletError::Keystore {
        path: path.into(),
        reason: reason.into(),
    }
}

fn hex_text(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

fn fixed_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let mut bytes = [0u8; N];
    hex::decode_to_slice(text.strip_prefix("0x")?, &mut bytes).ok()?;
    Some(bytes)
}
