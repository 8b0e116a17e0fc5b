//! Tree nodes, their hashes, and the page format nodes are stored in.
//!
//! A page holds four levels of the binary tree below a node at a depth that is a multiple of four
//! (one nibble of the key): its inner nodes and leaves, each with its hash, and references to the
//! pages one nibble deeper at its bottom. Storing the hashes makes reading a page a parse, with no
//! hashing: an update then hashes only the nodes it changes. A path from the root to a leaf at depth
//! 20 is five page reads, and updating one account rewrites one small page per nibble of depth
//! instead of one record per bit.
//!
//! Reading a page checks its structure and that its root hashes to what its parent says; the bytes
//! themselves are guarded by RocksDB's block checksums.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::{error::LedgerError, hash::Hash};

/// Binary levels stored in one page.
pub const PAGE_LEVELS: usize = 4;

/// Key bits: the state key is a SHA-256 digest.
pub const KEY_BITS: usize = 256;

const LEAF_DOMAIN: u8 = 0x00;
const INTERNAL_DOMAIN: u8 = 0x01;

/// Longest value a leaf holds. Values are stored in the leaf itself, so every retained version
/// of the state can be read back from the tree, and an account's leaf hashes in one SHA-256 block.
pub const MAX_VALUE_LEN: usize = 255;

/// A leaf: a state key and the value stored under it.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct LeafNode {
    pub key: Hash,
    pub value: Vec<u8>,
}

impl LeafNode {
    /// `SHA-256(0x00 || key || value)`: the key has a fixed length, so the split is unambiguous.
    pub fn hash(&self) -> Hash {
        Hash::digest_parts(&[&[LEAF_DOMAIN], &self.key.0, &self.value])
    }
}

/// The hash of an inner node. An empty subtree hashes to [`Hash::ZERO`].
pub fn internal_hash(left: &Hash, right: &Hash) -> Hash {
    Hash::digest_parts(&[&[INTERNAL_DOMAIN], &left.0, &right.0])
}

/// A reference from one page (or from a version's root record) to what sits below it.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum ChildRef {
    Empty,
    /// A subtree holding exactly one leaf is that leaf, placed at the subtree's top.
    Leaf(LeafNode),
    /// An inner node at a page boundary: the root of the page written at `version`.
    Page {
        hash: Hash,
        version: u64,
    },
}

impl ChildRef {
    pub fn hash(&self) -> Hash {
        match self {
            ChildRef::Empty => Hash::ZERO,
            ChildRef::Leaf(leaf) => leaf.hash(),
            ChildRef::Page { hash, .. } => *hash,
        }
    }
}

/// Where a page lives: the version that wrote it and the key bits that lead to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PageKey {
    pub version: u64,
    /// Depth of the page's root in nibbles (its bit depth divided by four).
    pub nibbles: u8,
    /// The key's first `nibbles` nibbles; the rest is zero.
    pub path: [u8; 32],
}

impl PageKey {
    /// The key of the page whose root sits at `bit_depth` on the way to `key`.
    pub fn new(version: u64, bit_depth: usize, key: &Hash) -> PageKey {
        let nibbles = bit_depth / PAGE_LEVELS;
        let mut path = [0u8; 32];
        let full_bytes = nibbles / 2;
        path[..full_bytes].copy_from_slice(&key.0[..full_bytes]);
        if nibbles % 2 == 1 {
            path[full_bytes] = key.0[full_bytes] & 0xf0;
        }
        // A depth is at most 252 bits, so the nibble count fits a byte.
        PageKey {
            version,
            nibbles: nibbles as u8,
            path,
        }
    }

    /// Database key: version (big-endian, so one version's pages sit together and old versions
    /// sort first), nibble count, then only the path bytes that carry nibbles.
    pub fn encode(&self) -> Vec<u8> {
        let path_len = (usize::from(self.nibbles)).div_ceil(2);
        let mut bytes = Vec::with_capacity(9 + path_len);
        bytes.extend_from_slice(&self.version.to_be_bytes());
        bytes.push(self.nibbles);
        bytes.extend_from_slice(&self.path[..path_len]);
        bytes
    }

    pub fn decode(bytes: &[u8]) -> Result<PageKey, LedgerError> {
        let corrupt = || LedgerError::Corrupt {
            reason: format!("bad page key {}", hex::encode(bytes)),
        };
        if bytes.len() < 9 {
            return Err(corrupt());
        }
        let mut version = [0u8; 8];
        version.copy_from_slice(&bytes[..8]);
        let nibbles = bytes[8];
        let path_bytes = &bytes[9..];
        if path_bytes.len() != usize::from(nibbles).div_ceil(2) || path_bytes.len() > 32 {
            return Err(corrupt());
        }
        let mut path = [0u8; 32];
        path[..path_bytes.len()].copy_from_slice(path_bytes);
        Ok(PageKey {
            version: u64::from_be_bytes(version),
            nibbles,
            path,
        })
    }
}

/// A subtree in memory, as the update and proof walks see it.
#[derive(Clone, Debug)]
pub enum Node {
    Empty,
    /// A leaf with its hash, computed once when the leaf is made or stored with it.
    Leaf(LeafNode, Hash),
    /// An inner node inside a page that is loaded (or being built).
    Internal {
        hash: Hash,
        children: Box<[Node; 2]>,
    },
    /// A page root that is not loaded.
    Stored {
        hash: Hash,
        version: u64,
    },
}

impl Node {
    pub fn hash(&self) -> Hash {
        match self {
            Node::Empty => Hash::ZERO,
            Node::Leaf(_, hash) | Node::Internal { hash, .. } | Node::Stored { hash, .. } => *hash,
        }
    }

    pub fn from_ref(child: ChildRef) -> Node {
        match child {
            ChildRef::Empty => Node::Empty,
            ChildRef::Leaf(leaf) => Node::leaf(leaf),
            ChildRef::Page { hash, version } => Node::Stored { hash, version },
        }
    }

    pub fn leaf(leaf: LeafNode) -> Node {
        let hash = leaf.hash();
        Node::Leaf(leaf, hash)
    }
}

const TAG_EMPTY: u8 = 0;
const TAG_LEAF: u8 = 1;
const TAG_INTERNAL: u8 = 2;
const TAG_PAGE: u8 = 3;

/// Serialises the page rooted at `root` (an inner node at a page boundary), preorder: a tag byte
/// per node, then an inner node's hash; a leaf's key, hash, value length (one byte) and value; or a
/// child page's hash and version (big-endian).
pub fn encode_page(root: &Node) -> Result<Vec<u8>, LedgerError> {
    fn write(node: &Node, relative_depth: usize, out: &mut Vec<u8>) -> Result<(), LedgerError> {
        match node {
            Node::Empty => out.push(TAG_EMPTY),
            Node::Leaf(leaf, hash) => {
                out.push(TAG_LEAF);
                out.extend_from_slice(&leaf.key.0);
                out.extend_from_slice(&hash.0);
                let len = u8::try_from(leaf.value.len()).map_err(|_| LedgerError::Corrupt {
                    reason: format!("leaf value of {} bytes", leaf.value.len()),
                })?;
                out.push(len);
                out.extend_from_slice(&leaf.value);
            }
            Node::Internal { hash, children } if relative_depth < PAGE_LEVELS => {
                out.push(TAG_INTERNAL);
                out.extend_from_slice(&hash.0);
                write(&children[0], relative_depth + 1, out)?;
                write(&children[1], relative_depth + 1, out)?;
            }
            Node::Stored { hash, version } if relative_depth == PAGE_LEVELS => {
                out.push(TAG_PAGE);
                out.extend_from_slice(&hash.0);
                out.extend_from_slice(&version.to_be_bytes());
            }
            _ => {
                return Err(LedgerError::Corrupt {
                    reason: format!("page node at relative depth {relative_depth} is misplaced"),
                })
            }
        }
        Ok(())
    }
    let mut out = Vec::with_capacity(256);
    match root {
        Node::Internal { .. } => write(root, 0, &mut out)?,
        _ => {
            return Err(LedgerError::Corrupt {
                reason: "a page root must be an inner node".into(),
            })
        }
    }
    Ok(out)
}

/// Reads a page back and checks its root carries the hash its parent expects: a page that does not
/// is corrupt, whatever the reason.
pub fn decode_page(bytes: &[u8], expected: &Hash) -> Result<Node, LedgerError> {
    struct Reader<'a> {
        bytes: &'a [u8],
        at: usize,
    }
    impl Reader<'_> {
        fn take(&mut self, len: usize) -> Result<&[u8], LedgerError> {
            let end = self
                .at
                .checked_add(len)
                .filter(|end| *end <= self.bytes.len());
            let end = end.ok_or_else(|| LedgerError::Corrupt {
                reason: "page is truncated".into(),
            })?;
            let slice = &self.bytes[self.at..end];
            self.at = end;
            Ok(slice)
        }
        fn hash(&mut self) -> Result<Hash, LedgerError> {
            let mut out = [0u8; 32];
            out.copy_from_slice(self.take(32)?);
            Ok(Hash(out))
        }
        fn node(&mut self, relative_depth: usize) -> Result<Node, LedgerError> {
            let tag = self.take(1)?[0];
            match tag {
                TAG_EMPTY if relative_depth > 0 => Ok(Node::Empty),
                TAG_LEAF if relative_depth > 0 => {
                    let key = self.hash()?;
                    let hash = self.hash()?;
                    let len = usize::from(self.take(1)?[0]);
                    let value = self.take(len)?.to_vec();
                    Ok(Node::Leaf(LeafNode { key, value }, hash))
                }
                TAG_INTERNAL if relative_depth < PAGE_LEVELS => {
                    let hash = self.hash()?;
                    let left = self.node(relative_depth + 1)?;
                    let right = self.node(relative_depth + 1)?;
                    // One leaf or none below an inner node would have been stored higher up.
                    let collapsible = matches!(
                        (&left, &right),
                        (Node::Empty, Node::Empty | Node::Leaf(..)) | (Node::Leaf(..), Node::Empty)
                    );
                    if collapsible {
                        return Err(LedgerError::Corrupt {
                            reason: "page holds a non-canonical inner node".into(),
                        });
                    }
                    Ok(Node::Internal {
                        hash,
                        children: Box::new([left, right]),
                    })
                }
                TAG_PAGE if relative_depth == PAGE_LEVELS => {
                    let hash = self.hash()?;
                    let mut version = [0u8; 8];
                    version.copy_from_slice(self.take(8)?);
                    Ok(Node::Stored {
                        hash,
                        version: u64::from_be_bytes(version),
                    })
                }
                _ => Err(LedgerError::Corrupt {
                    reason: format!("page tag {tag} at relative depth {relative_depth}"),
                }),
            }
        }
    }
    let mut reader = Reader { bytes, at: 0 };
    let node = reader.node(0)?;
    if reader.at != bytes.len() {
        return Err(LedgerError::Corrupt {
            reason: "page has trailing bytes".into(),
        });
    }
    if node.hash() != *expected {
        return Err(LedgerError::Corrupt {
            reason: format!(
                "page hashes to {} but its parent expects {expected}",
                node.hash()
            ),
        });
    }
    Ok(node)
}
