//! Keys from a recovery phrase: BIP-39 for the words and the seed, SLIP-0010 for ed25519 keys.
//!
//! # The path
//!
//! A Cairn key is the SLIP-0010 ed25519 key at
//!
//! ```text
//! m / 44' / 17217' / account' / 0' / 0'
//! ```
//!
//! BIP-44's shape (purpose 44, coin type, account, change, index) with every level hardened,
//! because SLIP-0010 defines only hardened derivation for ed25519 (there is no public-key
//! derivation on that curve). [`COIN_TYPE`] 17217 is `0x4341`, "CA" in ASCII; it is not in the
//! SLIP-0044 registry as of writing and must be registered (or changed) before a main network
//! launches, since every wallet that follows this path derives the same keys from the same words.
//! One recovery phrase holds any number of accounts; `cairn wallet` uses change 0 and index 0 and
//! lets the user choose the account.
//!
//! # SLIP-0010 for ed25519, as implemented here
//!
//! - master: `I = HMAC-SHA512(key = "ed25519 seed", data = seed)`; the key is `I[..32]`, the chain
//!   code `I[32..]`;
//! - child `i` (hardened, `i ≥ 2³¹`): `I = HMAC-SHA512(key = chain code, data = 0x00 ‖ key ‖
//!   ser32(i))`, split the same way. Any 32 bytes are a valid ed25519 key (RFC 8032 seed), so no
//!   value is ever skipped.
//!
//! The BIP-39 seed is `PBKDF2-HMAC-SHA512(phrase, "mnemonic" ‖ passphrase, 2048)`, computed by the
//! `bip39` crate. The wallet uses the empty BIP-39 passphrase; the keystore passphrase protects
//! the file at rest and is unrelated.

use std::{fmt, str::FromStr};

use cairn_ledger::SecretKey;
use chacha20poly1305::aead::{rand_core::RngCore, OsRng};
use hmac::{Hmac, Mac};
use sha2::Sha512;
use zeroize::Zeroizing;

pub use bip39::Mnemonic;

use super::error::WalletError;

/// Cairn's BIP-44 coin type (see the module documentation): `0x4341`, "CA".
pub const COIN_TYPE: u32 = 17217;

/// BIP-44's purpose level.
pub const PURPOSE: u32 = 44;

/// Set on a child index to make it hardened.
pub const HARDENED: u32 = 0x8000_0000;

/// Words in a recovery phrase that `cairn wallet new` makes: 256 bits of entropy.
pub const MNEMONIC_WORDS: usize = 24;

/// The HMAC key of SLIP-0010's master key generation for ed25519.
const ED25519_CURVE_KEY: &[u8] = b"ed25519 seed";

/// Most levels a path may have; a bound on input, far above any real path.
const MAX_DEPTH: usize = 32;

type HmacSha512 = Hmac<Sha512>;

/// A derivation path of hardened levels only, as SLIP-0010 allows for ed25519. Each index is
/// stored without the hardened bit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DerivationPath(Vec<u32>);

impl DerivationPath {
    /// `m/44'/17217'/account'/0'/0'`.
    pub fn cairn(account: u32) -> Result<Self, WalletError> {
        Self::new(vec![PURPOSE, COIN_TYPE, account, 0, 0])
    }

    /// A path from its levels (without the hardened bit); each must be below 2³¹.
    pub fn new(levels: Vec<u32>) -> Result<Self, WalletError> {
        let path = DerivationPath(levels);
        if path.0.len() > MAX_DEPTH {
            return Err(WalletError::InvalidPath {
                path: path.to_string(),
                reason: format!("more than {MAX_DEPTH} levels"),
            });
        }
        if let Some(level) = path.0.iter().find(|level| **level >= HARDENED) {
            return Err(WalletError::InvalidPath {
                path: path
                    .0
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join("/"),
                reason: format!("index {level} is not below 2^31"),
            });
        }
        Ok(path)
    }

    /// The levels, without the hardened bit.
    pub fn levels(&self) -> &[u32] {
        &self.0
    }
}

impl fmt::Display for DerivationPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("m")?;
        for level in &self.0 {
            write!(f, "/{level}'")?;
        }
        Ok(())
    }
}

impl FromStr for DerivationPath {
    type Err = WalletError;

    /// Parses `m/44'/17217'/0'/0'/0'`; `h` or `H` may stand for `'`. Every level must be hardened.
    fn from_str(text: &str) -> Result<Self, WalletError> {
        let invalid = |reason: String| WalletError::InvalidPath {
            path: text.into(),
            reason,
        };
        let mut parts = text.split('/');
        if parts.next() != Some("m") {
            return Err(invalid("must start with m".into()));
        }
        let mut levels = Vec::new();
        for part in parts {
            let digits = part
                .strip_suffix(['\'', 'h', 'H'])
                .ok_or_else(|| invalid(format!("level {part:?} is not hardened (ed25519)")))?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid(format!("level {part:?} is not a number")));
            }
            let level = digits
                .parse::<u32>()
                .map_err(|_| invalid(format!("level {part:?} is too large")))?;
            levels.push(level);
        }
        DerivationPath::new(levels).map_err(|error| match error {
            WalletError::InvalidPath { reason, .. } => invalid(reason),
            other => other,
        })
    }
}

/// A SLIP-0010 node: a 32-byte ed25519 secret (an RFC 8032 seed) and its chain code. Both are
/// wiped from memory on drop; `Debug` shows neither.
#[derive(Clone)]
pub struct ExtendedKey {
    key: Zeroizing<[u8; 32]>,
    chain_code: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for ExtendedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExtendedKey").finish_non_exhaustive()
    }
}

impl ExtendedKey {
    /// The master node of `seed` (16 to 64 bytes in BIP-32; any length is accepted here).
    pub fn master(seed: &[u8]) -> Result<Self, WalletError> {
        Self::from_hmac(ED25519_CURVE_KEY, &[seed])
    }

    /// The node at `path` below the master node of `seed`.
    pub fn derive(seed: &[u8], path: &DerivationPath) -> Result<Self, WalletError> {
        path.levels()
            .iter()
            .try_fold(Self::master(seed)?, |node, level| node.child(*level))
    }

    /// The hardened child `index` (given without the hardened bit, which is added here).
    pub fn child(&self, index: u32) -> Result<Self, WalletError> {
        if index >= HARDENED {
            return Err(WalletError::Derivation {
                reason: format!("child index {index} is not below 2^31"),
            });
        }
        let serialized = (index | HARDENED).to_be_bytes();
        Self::from_hmac(
            self.chain_code.as_slice(),
            &[&[0u8], self.key.as_slice(), &serialized],
        )
    }

    /// The 32-byte secret: the ed25519 key's RFC 8032 seed.
    pub fn secret_bytes(&self) -> &[u8; 32] {
        &self.key
    }

    pub fn chain_code(&self) -> &[u8; 32] {
        &self.chain_code
    }

    /// The signing key of this node.
    pub fn secret_key(&self) -> SecretKey {
        SecretKey::from_seed(*self.key)
    }

    fn from_hmac(key: &[u8], data: &[&[u8]]) -> Result<Self, WalletError> {
        let mut mac = HmacSha512::new_from_slice(key).map_err(|error| WalletError::Derivation {
            reason: error.to_string(),
        })?;
        for part in data {
            mac.update(part);
        }
        let output = Zeroizing::new(<[u8; 64]>::from(mac.finalize().into_bytes()));
        let mut node = ExtendedKey {
            key: Zeroizing::new([0; 32]),
            chain_code: Zeroizing::new([0; 32]),
        };
        node.key.copy_from_slice(&output[..32]);
        node.chain_code.copy_from_slice(&output[32..]);
        Ok(node)
    }
}

/// A new recovery phrase of [`MNEMONIC_WORDS`] words from 256 bits of the operating system's
/// randomness.
pub fn generate_mnemonic() -> Result<Mnemonic, WalletError> {
    let mut entropy = Zeroizing::new([0u8; 32]);
    fill_random(entropy.as_mut_slice())?;
    mnemonic_from_entropy(entropy.as_slice())
}

/// The recovery phrase of `entropy` (16 to 32 bytes, a multiple of 4).
pub fn mnemonic_from_entropy(entropy: &[u8]) -> Result<Mnemonic, WalletError> {
    Mnemonic::from_entropy(entropy).map_err(|error| WalletError::InvalidMnemonic {
        reason: error.to_string(),
    })
}

/// Parses an English recovery phrase of 12 to 24 words, checking its checksum. Case and runs of
/// white space do not matter.
pub fn parse_mnemonic(text: &str) -> Result<Mnemonic, WalletError> {
    let normalized = Zeroizing::new(
        text.split_whitespace()
            .map(str::to_lowercase)
            .collect::<Vec<_>>()
            .join(" "),
    );
    Mnemonic::parse_in_normalized(bip39::Language::English, &normalized).map_err(|error| {
        WalletError::InvalidMnemonic {
            reason: error.to_string(),
        }
    })
}

/// The 64-byte BIP-39 seed of `mnemonic` with the BIP-39 `passphrase` (empty in `cairn wallet`).
pub fn seed_from_mnemonic(mnemonic: &Mnemonic, passphrase: &str) -> Zeroizing<[u8; 64]> {
    Zeroizing::new(mnemonic.to_seed(passphrase))
}

/// The signing key at `path` for `mnemonic`, with the empty BIP-39 passphrase.
pub fn key_from_mnemonic(
    mnemonic: &Mnemonic,
    path: &DerivationPath,
) -> Result<SecretKey, WalletError> {
    let seed = seed_from_mnemonic(mnemonic, "");
    Ok(ExtendedKey::derive(seed.as_slice(), path)?.secret_key())
}

/// Parses a raw secret key: 64 hex digits (the RFC 8032 seed), with or without `0x`.
pub fn parse_secret_key(text: &str) -> Result<SecretKey, WalletError> {
    let text = text.trim();
    let digits = text.strip_prefix("0x").unwrap_or(text);
    let mut seed = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(digits, seed.as_mut_slice()).map_err(|_| {
        WalletError::InvalidSecretKey {
            reason: "expected 64 hex digits, with or without 0x".into(),
        }
    })?;
    Ok(SecretKey::from_seed(*seed))
}

/// Fills `buffer` from the operating system's random source.
pub(crate) fn fill_random(buffer: &mut [u8]) -> Result<(), WalletError> {
    OsRng
        .try_fill_bytes(buffer)
        .map_err(|error| WalletError::Randomness {
            reason: error.to_string(),
        })
}
