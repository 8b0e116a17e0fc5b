//! Tree nodes, their hashes, and the page format nodes are stored in.
//!
//! A page holds four levels of the binary tree below a node at a depth that is a multiple of four
//! (one nibble of the key): its inner nodes and leaves, and references to the pages one nibble
//! deeper at its bottom (their hash and version). A path from the root to a leaf at depth 20 is five
//! page reads, and updating one account rewrites one small page per nibble of depth instead of one
//! record per bit.
//!
//! A page stores no hash of its own nodes: every block rewrites tens of thousands of pages, and the
//! hashes were more than half of their bytes. Reading a page recomputes them (a few dozen SHA-256
//! blocks, microseconds), and the store keeps decoded pages in memory so that few reads do.
//!
//! Reading a page checks its structure and that its root hashes to what its parent says; the bytes
//! themselves are guarded by RocksDB's block checksums.

use std::sync::Arc;

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
    /// Depth of the page's root in pages (its bit depth divided by [`PAGE_LEVELS`]).
    pub level: u8,
    /// The key's first `level * PAGE_LEVELS` bits; the rest is zero.
    pub path: [u8; 32],
}

impl PageKey {
    /// The key of the page whose root sits at `bit_depth` on the way to `key`.
    pub fn new(version: u64, bit_depth: usize, key: &Hash) -> PageKey {
        let level = bit_depth / PAGE_LEVELS;
        let bits = level * PAGE_LEVELS;
        let mut path = [0u8; 32];
        let full_bytes = bits / 8;
        path[..full_bytes].copy_from_slice(&key.0[..full_bytes]);
        if !bits.is_multiple_of(8) {
            path[full_bytes] = key.0[full_bytes] & (0xff << (8 - bits % 8));
        }
        // A depth is less than 256 bits, so the level fits a byte.
        PageKey {
            version,
            level: level as u8,
            path,
        }
    }

    fn path_len(level: u8) -> usize {
        (usize::from(level) * PAGE_LEVELS).div_ceil(8)
    }

    /// Database key: version (big-endian, so one version's pages sit together and old versions
    /// sort first), level, then only the path bytes that carry path bits.
    pub fn encode(&self) -> Vec<u8> {
        let path_len = Self::path_len(self.level);
        let mut bytes = Vec::with_capacity(9 + path_len);
        bytes.extend_from_slice(&self.version.to_be_bytes());
        bytes.push(self.level);
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
        let level = bytes[8];
        let path_bytes = &bytes[9..];
        if path_bytes.len() != Self::path_len(level) || path_bytes.len() > 32 {
            return Err(corrupt());
        }
        let mut path = [0u8; 32];
        path[..path_bytes.len()].copy_from_slice(path_bytes);
        Ok(PageKey {
            version: u64::from_be_bytes(version),
            level,
            path,
        })
    }
}

/// A subtree in memory, as the update and proof walks see it. Subtrees are shared, so cloning a
/// decoded page out of the cache copies no nodes; an update copies only the nodes on its paths.
#[derive(Clone, Debug)]
pub enum Node {
    Empty,
    /// A leaf with its hash, computed once when the leaf is made or read.
    Leaf(Arc<LeafNode>, Hash),
    /// An inner node inside a page that is loaded (or being built).
    Internal {
        hash: Hash,
        children: Arc<[Node; 2]>,
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
        Node::Leaf(Arc::new(leaf), hash)
    }

    /// An inner node over two children, hashed.
    pub fn internal(left: Node, right: Node) -> Node {
        Node::Internal {
            hash: internal_hash(&left.hash(), &right.hash()),
            children: Arc::new([left, right]),
        }
    }
}

const TAG_EMPTY: u8 = 0;
const TAG_LEAF: u8 = 1;
const TAG_INTERNAL: u8 = 2;
const TAG_PAGE: u8 = 3;

/// Serialises the page rooted at `root` (an inner node at a page boundary), preorder: a tag byte
/// per node, then nothing more for an inner node; a leaf's key, value length (one byte) and value;
/// or a child page's hash and version (big-endian).
pub fn encode_page(root: &Node) -> Result<Vec<u8>, LedgerError> {
    fn write(node: &Node, relative_depth: usize, out: &mut Vec<u8>) -> Result<(), LedgerError> {
        match node {
            Node::Empty => out.push(TAG_EMPTY),
            Node::Leaf(leaf, _) => {
                out.push(TAG_LEAF);
                out.extend_from_slice(&leaf.key.0);
                let len = u8::try_from(leaf.value.len()).map_err(|_| LedgerError::Corrupt {
                    reason: format!("leaf value of {} bytes", leaf.value.len()),
                })?;
                out.push(len);
                out.extend_from_slice(&leaf.value);
            }
            Node::Internal { children, .. } if relative_depth < PAGE_LEVELS => {
                out.push(TAG_INTERNAL);
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
    let mut out = Vec::with_capacity(512);
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

/// Reads a page back, hashing its nodes, and checks that its root hashes to what its parent
/// expects: a page that does not is corrupt, whatever the reason.
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
                    let len = usize::from(self.take(1)?[0]);
                    let value = self.take(len)?.to_vec();
                    Ok(Node::leaf(LeafNode { key, value }))
                }
                TAG_INTERNAL if relative_depth < PAGE_LEVELS => {
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
                    Ok(Node::internal(left, right))
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
