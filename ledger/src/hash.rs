//! SHA-256 digests and the hashing helpers every other module uses.

use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};
use sha2::{Digest, Sha256};

/// A SHA-256 digest.
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    BorshSerialize,
    BorshDeserialize,
    bytemuck::Pod,
    bytemuck::Zeroable,
)]
#[repr(transparent)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The all-zero digest; stands for "nothing" (an empty subtree, the parent of the first block).
    pub const ZERO: Hash = Hash([0; 32]);

    /// SHA-256 of `bytes`.
    pub fn digest(bytes: &[u8]) -> Hash {
        Hash(Sha256::digest(bytes).into())
    }

    /// SHA-256 over several slices, as if they were concatenated.
    pub fn digest_parts(parts: &[&[u8]]) -> Hash {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update(part);
        }
        Hash(hasher.finalize().into())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses `0x`-prefixed (or bare) hex of exactly 32 bytes.
    pub fn from_hex(text: &str) -> Option<Hash> {
        let text = text.strip_prefix("0x").unwrap_or(text);
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(Hash(bytes))
    }

    /// The bit at `index` (0 = most significant bit of the first byte).
    pub fn bit(&self, index: usize) -> bool {
        (self.0[index / 8] >> (7 - index % 8)) & 1 == 1
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}

impl AsRef<[u8]> for Hash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// The root of a binary Merkle tree over `leaves` (RFC 6962 shape: leaves and inner nodes are
/// domain-separated, an odd node is promoted, not duplicated, so no two lists share a root).
pub fn merkle_root(leaves: &[Hash]) -> Hash {
    fn node(leaves: &[Hash]) -> Hash {
        match leaves {
            [] => Hash::ZERO,
            [one] => Hash::digest_parts(&[&[0x00], one.as_ref()]),
            _ => {
                let split = leaves.len().next_power_of_two() / 2;
                let (left, right) = leaves.split_at(split);
                Hash::digest_parts(&[&[0x01], node(left).as_ref(), node(right).as_ref()])
            }
        }
    }
    node(leaves)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_order_is_most_significant_first() {
        let mut bytes = [0u8; 32];
        bytes[0] = 0b1000_0001;
        let hash = Hash(bytes);
        assert!(hash.bit(0));
        assert!(!hash.bit(1));
        assert!(hash.bit(7));
        assert!(!hash.bit(8));
    }

    #[test]
    fn merkle_root_distinguishes_lists() {
        let a = Hash::digest(b"a");
        let b = Hash::digest(b"b");
        assert_ne!(merkle_root(&[a, b]), merkle_root(&[b, a]));
        assert_ne!(merkle_root(&[a]), merkle_root(&[a, a]));
        assert_ne!(merkle_root(&[a, b]), merkle_root(&[a, b, b]));
        assert_eq!(merkle_root(&[]), Hash::ZERO);
    }

    #[test]
    fn hex_round_trips() {
        let hash = Hash::digest(b"cairn");
        assert_eq!(Hash::from_hex(&hash.to_string()), Some(hash));
        assert_eq!(Hash::from_hex("0x12"), None);
    }
}
