//! SHA-256 digests and the hashing helpers every other module uses.

use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};
use sha2::{
    digest::{consts::U64, generic_array::GenericArray},
    Digest, Sha256,
};

/// SHA-256's initial state (FIPS 180-4, 5.3.3).
const SHA256_IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// The longest message hashed on the stack: four blocks, less the padding's `0x80` byte and the
/// bit length in eight bytes. A signed transfer is about 150 bytes.
const SHORT_MESSAGE_MAX: usize = 4 * 64 - 9;

/// A SHA-256 digest.
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Default,
    BorshSerialize,
    BorshDeserialize,
    bytemuck::Pod,
    bytemuck::Zeroable,
)]
#[repr(transparent)]
pub struct Hash(pub [u8; 32]);

/// Orders as the bytes do, eight at a time: a block sorts and searches tens of thousands of
/// digests (state keys, transaction hashes), and a byte-wise comparison is a call to `memcmp`
/// where two digests nearly always differ in their first eight bytes.
impl Ord for Hash {
    fn cmp(&self, other: &Hash) -> std::cmp::Ordering {
        (0..4)
            .map(|word| be_word(&self.0, 8 * word).cmp(&be_word(&other.0, 8 * word)))
            .find(|order| order.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    }
}

impl PartialOrd for Hash {
    fn partial_cmp(&self, other: &Hash) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The eight bytes of `bytes` from `at` as a big-endian word, which orders as they do.
pub(crate) fn be_word(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_be_bytes(word)
}

impl Hash {
    /// The all-zero digest; stands for "nothing" (an empty subtree, the parent of the first block).
    pub const ZERO: Hash = Hash([0; 32]);

    /// SHA-256 of `bytes`.
    pub fn digest(bytes: &[u8]) -> Hash {
        Hash::digest_parts(&[bytes])
    }

    /// SHA-256 over several slices, as if they were concatenated.
    ///
    /// Short messages (the tree's nodes, addresses' state keys, transactions) are padded on the
    /// stack and compressed directly, without the streaming hasher's buffering and bookkeeping.
    /// A block at a million accounts hashes some 160,000 of them, nearly all of one or two
    /// blocks; this took about 4 ms off its execution.
    pub fn digest_parts(parts: &[&[u8]]) -> Hash {
        let len: usize = parts.iter().map(|part| part.len()).sum();
        if len > SHORT_MESSAGE_MAX {
            let mut hasher = Sha256::new();
            for part in parts {
                hasher.update(part);
            }
            return Hash(hasher.finalize().into());
        }
        let mut message = [0u8; SHORT_MESSAGE_MAX + 9];
        let mut at = 0;
        for part in parts {
            message[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        message[at] = 0x80;
        let end = (len + 9).div_ceil(64) * 64;
        // `len` is at most `SHORT_MESSAGE_MAX` here: the bit count cannot overflow.
        message[end - 8..end].copy_from_slice(&((len as u64) * 8).to_be_bytes());
        let mut state = SHA256_IV;
        for block in message[..end].chunks_exact(64) {
            sha2::compress256(
                &mut state,
                std::slice::from_ref(GenericArray::<u8, U64>::from_slice(block)),
            );
        }
        let mut digest = [0u8; 32];
        for (bytes, word) in digest.chunks_exact_mut(4).zip(state) {
            bytes.copy_from_slice(&word.to_be_bytes());
        }
        Hash(digest)
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
    /// Below this many leaves a subtree is hashed on the current thread. A block of 10,000
    /// transactions takes some 30,000 SHA-256 blocks to reach its root: about 1.5 ms on one
    /// core, on the path between execution and commit.
    const PARALLEL_MIN_LEAVES: usize = 1024;
    fn node(leaves: &[Hash]) -> Hash {
        match leaves {
            [] => Hash::ZERO,
            [one] => Hash::digest_parts(&[&[0x00], one.as_ref()]),
            _ => {
                let split = leaves.len().next_power_of_two() / 2;
                let (left, right) = leaves.split_at(split);
                let (left, right) = if leaves.len() >= PARALLEL_MIN_LEAVES {
                    rayon::join(|| node(left), || node(right))
                } else {
                    (node(left), node(right))
                };
                Hash::digest_parts(&[&[0x01], left.as_ref(), right.as_ref()])
            }
        }
    }
    node(leaves)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Two digests that share a random number of leading bytes, so every word decides some.
    fn near_pair() -> impl Strategy<Value = ([u8; 32], [u8; 32])> {
        (any::<[u8; 32]>(), any::<[u8; 32]>(), 0usize..=32).prop_map(|(a, mut b, shared)| {
            b[..shared].copy_from_slice(&a[..shared]);
            (a, b)
        })
    }

    proptest! {
        #[test]
        fn digests_order_as_their_bytes((a, b) in near_pair()) {
            prop_assert_eq!(Hash(a).cmp(&Hash(b)), a.cmp(&b));
            prop_assert_eq!(Hash(a).partial_cmp(&Hash(b)), Some(a.cmp(&b)));
        }
    }

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
    fn short_messages_hash_as_the_streaming_hasher_does() {
        let bytes: Vec<u8> = (0..=255u8).cycle().take(SHORT_MESSAGE_MAX + 100).collect();
        for len in 0..=bytes.len() {
            let expected = Hash(Sha256::digest(&bytes[..len]).into());
            assert_eq!(Hash::digest(&bytes[..len]), expected, "{len} bytes");
            for split in [0, len / 3, len / 2, len] {
                let (head, tail) = bytes[..len].split_at(split);
                assert_eq!(
                    Hash::digest_parts(&[head, &[], tail]),
                    expected,
                    "{len} bytes split at {split}"
                );
            }
        }
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
