//! The authenticated state: a versioned sparse Merkle tree over the accounts.
//!
//! # Shape
//! Each account sits at the key `SHA-256(address)`, a path of 256 bits from the root (bit 0 is the
//! most significant bit of the first byte; 0 goes left). The tree is binary and canonical: a subtree
//! with no leaf is empty and hashes to zero; a subtree with exactly one leaf *is* that leaf, placed
//! at the subtree's top (the leaf's shortest unique prefix); any other subtree is an inner node.
//!
//! ```text
//! leaf  = SHA-256(0x00 || key || value_hash)
//! inner = SHA-256(0x01 || left || right)
//! empty = 0x00 × 32
//! ```
//!
//! So the root is a function of the set of leaves alone, whatever order they arrived in, and a
//! path is about log2(accounts) long. [`reference_root`] computes it naively from all leaves; the
//! tests check the real tree against it.
//!
//! # Updates
//! A block's changes are sorted by key and applied in one bottom-up pass ([`SparseMerkleTree::apply`]):
//! keys that share a prefix descend together, so each inner node on the union of their paths is
//! hashed once, and the two halves of the top levels are updated on separate cores. Nothing is
//! written in place: the pass returns the new pages and the old pages it replaced, and the store
//! writes both in the block's one atomic batch. Every version stays readable until it is pruned.
//!
//! # Storage
//! Nodes are grouped into pages of four levels ([`node`]), keyed by the version that wrote them and
//! their path, so any version's root reaches any leaf through at most one page per nibble. An update
//! returns each new page both encoded, for the store, and decoded, for its page cache.
//! A version's root is a [`ChildRef`] stored beside it. Pages an update replaces are listed in the
//! update, so the store can index them by the version that made them stale and prune them later.

pub mod node;
mod proof;
mod reference;

use std::sync::Arc;

use rayon::join;

use self::node::{decode_page, encode_page, Node, KEY_BITS, MAX_VALUE_LEN, PAGE_LEVELS};
pub use self::{
    node::{ChildRef, LeafNode, PageKey},
    proof::{Proof, ProofTerminal},
    reference::reference_root,
};
use crate::{error::LedgerError, hash::Hash};

/// One change to the tree: the value to store under a key, or `None` to remove the key.
pub type Change = (Hash, Option<Vec<u8>>);

/// Below this many changes a subtree is updated on the current thread.
const PARALLEL_MIN_CHANGES: usize = 512;

/// Where the tree reads its pages from: the database, a cache in front of it, or memory in tests.
pub trait PageSource: Sync {
    /// The decoded page at `key`, which must hash to `expected`.
    fn page(&self, key: &PageKey, expected: &Hash) -> Result<Node, LedgerError>;
}

/// Decodes a stored page: the common body of every [`PageSource`].
pub fn load_page(
    bytes: Option<&[u8]>,
    key: &PageKey,
    expected: &Hash,
) -> Result<Node, LedgerError> {
    match bytes {
        Some(bytes) => decode_page(bytes, expected),
        None => Err(LedgerError::Corrupt {
            reason: format!("page {key:?} is missing (pruned or never written)"),
        }),
    }
}

/// A page an update wrote.
#[derive(Debug, Clone)]
pub struct NewPage {
    pub key: PageKey,
    /// What the store writes.
    pub bytes: Vec<u8>,
    /// The page decoded, ready for a cache.
    pub node: Node,
}

/// What applying a batch of changes produces; nothing is written until the store commits it.
#[derive(Debug, Clone)]
pub struct TreeUpdate {
    pub version: u64,
    pub root: ChildRef,
    pub new_pages: Vec<NewPage>,
    /// Pages of earlier versions that this version no longer references.
    pub stale_pages: Vec<PageKey>,
}

impl TreeUpdate {
    pub fn root_hash(&self) -> Hash {
        self.root.hash()
    }
}

#[derive(Default)]
struct Writes {
    new_pages: Vec<NewPage>,
    stale_pages: Vec<PageKey>,
}

impl Writes {
    fn absorb(&mut self, other: Writes) {
        self.new_pages.extend(other.new_pages);
        self.stale_pages.extend(other.stale_pages);
    }
}

/// The tree's operations over a [`PageSource`]; it holds no state of its own.
#[derive(Debug, Clone, Copy)]
pub struct SparseMerkleTree<'a, S> {
    source: &'a S,
}

impl<'a, S: PageSource> SparseMerkleTree<'a, S> {
    pub fn new(source: &'a S) -> Self {
        SparseMerkleTree { source }
    }

    /// Applies `changes` to the tree whose root is `base`, producing version `version`.
    /// Changes may come in any order; for a key given twice the last one wins.
    pub fn apply(
        &self,
        base: ChildRef,
        version: u64,
        mut changes: Vec<Change>,
    ) -> Result<TreeUpdate, LedgerError> {
        // A stable sort keeps duplicates in arrival order, so keeping the last of each run
        // implements "last one wins".
        changes.sort_by_key(|change| change.0);
        if let Some((key, Some(value))) = changes
            .iter()
            .find(|(_, value)| value.as_ref().is_some_and(|v| v.len() > MAX_VALUE_LEN))
        {
            return Err(LedgerError::Corrupt {
                reason: format!("value of {} bytes for key {key}", value.len()),
            });
        }
        let mut deduped: Vec<Change> = Vec::with_capacity(changes.len());
        for change in changes {
            match deduped.last_mut() {
                Some(last) if last.0 == change.0 => *last = change,
                _ => deduped.push(change),
            }
        }
        let mut writes = Writes::default();
        let root = self.update(&Node::from_ref(base), 0, &deduped, version, &mut writes)?;
        let root = match root {
            Node::Empty => ChildRef::Empty,
            Node::Leaf(leaf, _) => ChildRef::Leaf(Arc::unwrap_or_clone(leaf)),
            Node::Stored { hash, version } => ChildRef::Page { hash, version },
            Node::Internal { .. } => {
                return Err(LedgerError::Corrupt {
                    reason: "unsealed root after update".into(),
                })
            }
        };
        Ok(TreeUpdate {
            version,
            root,
            new_pages: writes.new_pages,
            stale_pages: writes.stale_pages,
        })
    }

    /// The subtree `node` at `depth` with `changes` applied. The old subtree is only read: what
    /// the changes do not touch is shared with it, not copied.
    fn update(
        &self,
        node: &Node,
        depth: usize,
        changes: &[Change],
        version: u64,
        writes: &mut Writes,
    ) -> Result<Node, LedgerError> {
        let Some((first_key, _)) = changes.first() else {
            return Ok(node.clone());
        };
        match node {
            Node::Stored {
                hash,
                version: page_version,
            } => {
                let page_key = PageKey::new(*page_version, depth, first_key);
                let loaded = self.source.page(&page_key, hash)?;
                let written = (writes.new_pages.len(), writes.stale_pages.len());
                let updated = self.update(&loaded, depth, changes, version, writes)?;
                if updated.hash() == *hash {
                    // Nothing changed (values rewritten with themselves): keep the old page.
                    writes.new_pages.truncate(written.0);
                    writes.stale_pages.truncate(written.1);
                    return Ok(node.clone());
                }
                writes.stale_pages.push(page_key);
                Ok(updated)
            }
            Node::Empty => {
                let leaves: Vec<Node> = changes.iter().filter_map(new_leaf).collect();
                self.build(depth, &leaves, version, writes)
            }
            Node::Leaf(..) => {
                let existing_key = leaf_key(node);
                let mut leaves = Vec::with_capacity(changes.len() + 1);
                let mut existing = Some(node);
                for change in changes {
                    if existing_key <= change.0 {
                        if let Some(leaf) = existing.take() {
                            // An existing leaf the changes do not replace moves down unchanged.
                            if existing_key < change.0 {
                                leaves.push(leaf.clone());
                            }
                        }
                    }
                    leaves.extend(new_leaf(change));
                }
                leaves.extend(existing.cloned());
                self.build(depth, &leaves, version, writes)
            }
            Node::Internal { .. } if depth >= KEY_BITS => Err(too_deep()),
            Node::Internal { children, .. } => {
                let [left, right] = &**children;
                let split = changes.partition_point(|(key, _)| !key.bit(depth));
                let (left_changes, right_changes) = changes.split_at(split);
                let (left, right) = if changes.len() >= PARALLEL_MIN_CHANGES
                    && !left_changes.is_empty()
                    && !right_changes.is_empty()
                {
                    let (left, right) = join(
                        || self.update_apart(left, depth + 1, left_changes, version),
                        || self.update_apart(right, depth + 1, right_changes, version),
                    );
                    let (left, left_writes) = left?;
                    let (right, right_writes) = right?;
                    writes.absorb(left_writes);
                    writes.absorb(right_writes);
                    (left, right)
                } else {
                    let left = self.update(left, depth + 1, left_changes, version, writes)?;
                    let right = self.update(right, depth + 1, right_changes, version, writes)?;
                    (left, right)
                };
                self.combine(depth, left, right, version, first_key, writes)
            }
        }
    }

    /// [`Self::update`] with writes of its own, for a subtree updated on another core.
    fn update_apart(
        &self,
        node: &Node,
        depth: usize,
        changes: &[Change],
        version: u64,
    ) -> Result<(Node, Writes), LedgerError> {
        let mut writes = Writes::default();
        let node = self.update(node, depth, changes, version, &mut writes)?;
        Ok((node, writes))
    }

    /// The canonical subtree at `depth` holding exactly `leaves` (leaf nodes, sorted, distinct keys).
    fn build(
        &self,
        depth: usize,
        leaves: &[Node],
        version: u64,
        writes: &mut Writes,
    ) -> Result<Node, LedgerError> {
        match leaves {
            [] => Ok(Node::Empty),
            [leaf] => Ok(leaf.clone()),
            [first, ..] => {
                if depth >= KEY_BITS {
                    return Err(LedgerError::Corrupt {
                        reason: "two leaves share a key".into(),
                    });
                }
                let split = leaves.partition_point(|leaf| !leaf_key(leaf).bit(depth));
                let (left, right) = leaves.split_at(split);
                let left = self.build(depth + 1, left, version, writes)?;
                let right = self.build(depth + 1, right, version, writes)?;
                self.combine(depth, left, right, version, &leaf_key(first), writes)
            }
        }
    }

    /// Joins two updated children into the canonical node at `depth`, sealing it into a page
    /// when `depth` is a page boundary.
    fn combine(
        &self,
        depth: usize,
        left: Node,
        right: Node,
        version: u64,
        any_key_below: &Hash,
        writes: &mut Writes,
    ) -> Result<Node, LedgerError> {
        let node = match (left, right) {
            (Node::Empty, Node::Empty) => return Ok(Node::Empty),
            (Node::Empty, leaf @ Node::Leaf(..)) | (leaf @ Node::Leaf(..), Node::Empty) => {
                return Ok(leaf)
            }
            (left, right) => Node::internal(left, right),
        };
        if !depth.is_multiple_of(PAGE_LEVELS) {
            return Ok(node);
        }
        let hash = node.hash();
        let key = PageKey::new(version, depth, any_key_below);
        writes.new_pages.push(NewPage {
            key,
            bytes: encode_page(&node)?,
            node,
        });
        Ok(Node::Stored { hash, version })
    }

    /// A proof for `key` against the tree whose root is `root`.
    pub fn prove(&self, root: ChildRef, key: &Hash) -> Result<Proof, LedgerError> {
        let mut siblings = Vec::new();
        let mut node = Node::from_ref(root);
        let mut depth = 0;
        loop {
            node = match node {
                Node::Empty => {
                    return Ok(Proof {
                        siblings,
                        terminal: ProofTerminal::Empty,
                    })
                }
                Node::Leaf(leaf, _) => {
                    return Ok(Proof {
                        siblings,
                        terminal: ProofTerminal::Leaf(Arc::unwrap_or_clone(leaf)),
                    })
                }
                Node::Stored { hash, version } => self
                    .source
                    .page(&PageKey::new(version, depth, key), &hash)?,
                Node::Internal { .. } if depth >= KEY_BITS => return Err(too_deep()),
                Node::Internal { children, .. } => {
                    let [left, right] = &*children;
                    let (next, sibling) = if key.bit(depth) {
                        (right.clone(), left)
                    } else {
                        (left.clone(), right)
                    };
                    siblings.push(sibling.hash());
                    depth += 1;
                    next
                }
            };
        }
    }

    /// Walks the tree at `root` and returns every leaf, in key order; for tests and audits.
    pub fn leaves(&self, root: ChildRef) -> Result<Vec<LeafNode>, LedgerError> {
        let mut out = Vec::new();
        self.collect(Node::from_ref(root), 0, &Hash::ZERO, &mut out)?;
        Ok(out)
    }

    fn collect(
        &self,
        node: Node,
        depth: usize,
        path: &Hash,
        out: &mut Vec<LeafNode>,
    ) -> Result<(), LedgerError> {
        match node {
            Node::Empty => Ok(()),
            Node::Leaf(leaf, _) => {
                out.push(Arc::unwrap_or_clone(leaf));
                Ok(())
            }
            Node::Stored { hash, version } => {
                let page = self
                    .source
                    .page(&PageKey::new(version, depth, path), &hash)?;
                self.collect(page, depth, path, out)
            }
            Node::Internal { .. } if depth >= KEY_BITS => Err(too_deep()),
            Node::Internal { children, .. } => {
                let [left, right] = Arc::unwrap_or_clone(children);
                let mut right_path = *path;
                right_path.0[depth / 8] |= 0x80 >> (depth % 8);
                self.collect(left, depth + 1, path, out)?;
                self.collect(right, depth + 1, &right_path, out)
            }
        }
    }
}

/// A new leaf for a change that stores a value; none for a removal.
fn new_leaf((key, value): &Change) -> Option<Node> {
    value.as_ref().map(|value| {
        Node::leaf(LeafNode {
            key: *key,
            value: value.clone(),
        })
    })
}

/// The key of a leaf node; only called on leaves.
fn leaf_key(node: &Node) -> Hash {
    match node {
        Node::Leaf(leaf, _) => leaf.key,
        _ => Hash::ZERO,
    }
}

fn too_deep() -> LedgerError {
    LedgerError::Corrupt {
        reason: "tree is deeper than a key is long".into(),
    }
}

/// Pages held in memory: for tests, benchmarks and tools that need no database. By default every
/// read decodes the page's bytes, as a read from the store does; [`MemoryPages::decoded`] keeps
/// pages decoded instead, as the store's page cache does.
#[derive(Debug, Default)]
pub struct MemoryPages {
    pages: std::collections::HashMap<PageKey, Vec<u8>>,
    decoded: Option<std::collections::HashMap<PageKey, Node>>,
}

impl MemoryPages {
    /// Pages kept decoded, so reads skip decoding.
    pub fn decoded() -> MemoryPages {
        MemoryPages {
            pages: std::collections::HashMap::new(),
            decoded: Some(std::collections::HashMap::new()),
        }
    }

    /// Stores an update's pages; earlier versions stay readable, as in the store before pruning.
    pub fn commit(&mut self, update: &TreeUpdate) {
        for page in &update.new_pages {
            match &mut self.decoded {
                Some(decoded) => {
                    decoded.insert(page.key, page.node.clone());
                }
                None => {
                    self.pages.insert(page.key, page.bytes.clone());
                }
            }
        }
    }

    pub fn remove(&mut self, key: &PageKey) {
        self.pages.remove(key);
        if let Some(decoded) = &mut self.decoded {
            decoded.remove(key);
        }
    }

    pub fn len(&self) -> usize {
        self.pages.len() + self.decoded.as_ref().map_or(0, |decoded| decoded.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl PageSource for MemoryPages {
    fn page(&self, key: &PageKey, expected: &Hash) -> Result<Node, LedgerError> {
        if let Some(node) = self.decoded.as_ref().and_then(|decoded| decoded.get(key)) {
            if node.hash() == *expected {
                return Ok(node.clone());
            }
        }
        load_page(self.pages.get(key).map(Vec::as_slice), key, expected)
    }
}
