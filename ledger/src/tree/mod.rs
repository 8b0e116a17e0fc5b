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
//! writes each new page straight in its stored form, with the hashes beside it ([`node::Page`]), so
//! the same page goes to the store and to its page cache.
//! A version's root is a [`ChildRef`] stored beside it. Pages an update replaces are listed in the
//! update, so the store can index them by the version that made them stale and prune them later.

pub mod node;
mod proof;
mod reference;

use rayon::join;

use self::node::{
    decode_page, leaf_hash, Kind, Page, PageBuilder, KEY_BITS, MAX_INLINE_LEAVES, MAX_VALUE_LEN,
    PAGE_LEVELS,
};
pub use self::{
    node::{ChildRef, LeafNode, PageKey},
    proof::{Proof, ProofTerminal},
    reference::reference_root,
};
use crate::{error::LedgerError, hash::Hash};

/// One change to the tree: the value to store under a key, or `None` to remove the key. The value
/// is anything that reads as bytes: an owned vector, or a slice of a buffer that holds a whole
/// block's values, which saves an allocation per change.
pub type Change<V = Vec<u8>> = (Hash, Option<V>);

/// Below this many changes a subtree is updated on the current thread.
const PARALLEL_MIN_CHANGES: usize = 512;

/// Where the tree reads its pages from: the database, a cache in front of it, or memory in tests.
pub trait PageSource: Sync {
    /// The decoded page at `key`, which must hash to `expected`.
    fn page(&self, key: &PageKey, expected: &Hash) -> Result<Page, LedgerError>;

    /// Told of each page an update writes as soon as it is finished, while its bytes are still
    /// in the processor's caches: a store that keeps pages in memory puts it there now, for a
    /// fraction of what the same insert costs once the rest of the update has pushed the page
    /// out to memory.
    fn page_written(&self, _key: &PageKey, _page: &Page) {}
}

/// Decodes a stored page: the common body of every [`PageSource`].
pub fn load_page(
    bytes: Option<&[u8]>,
    key: &PageKey,
    expected: &Hash,
) -> Result<Page, LedgerError> {
    match bytes {
        Some(bytes) => decode_page(bytes, expected),
        None => Err(LedgerError::Corrupt {
            reason: format!("page {key:?} is missing (pruned or never written)"),
        }),
    }
}

/// A page an update wrote: what the store writes ([`Page::bytes`]) and what its cache keeps.
#[derive(Debug, Clone)]
pub struct NewPage {
    pub key: PageKey,
    pub page: Page,
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

/// The pages an update writes and the pages it makes stale, in the order it meets them.
#[derive(Default)]
struct Writes {
    new_pages: Chunks<NewPage>,
    stale_pages: Chunks<PageKey>,
}

impl Writes {
    /// Appends `other`'s writes after these.
    fn absorb(&mut self, other: Writes) {
        self.new_pages.absorb(other.new_pages);
        self.stale_pages.absorb(other.stale_pages);
    }

    fn mark(&self) -> [(usize, usize); 2] {
        [self.new_pages.mark(), self.stale_pages.mark()]
    }

    fn truncate(&mut self, [new_pages, stale_pages]: [(usize, usize); 2]) {
        self.new_pages.truncate(new_pages);
        self.stale_pages.truncate(stale_pages);
    }
}

/// A list kept as the vectors that the halves of a parallel update filled, joined once at the
/// end. Appending each half's vector to the other's at every split copied the pages about five
/// times over (and grew vectors of tens of thousands of them), about 2.5% of a block's CPU at a
/// million accounts.
struct Chunks<T> {
    /// Never empty: items go into the last vector.
    chunks: Vec<Vec<T>>,
}

impl<T> Default for Chunks<T> {
    fn default() -> Self {
        Chunks {
            chunks: vec![Vec::new()],
        }
    }
}

impl<T> Chunks<T> {
    fn push(&mut self, item: T) {
        match self.chunks.last_mut() {
            Some(last) => last.push(item),
            None => self.chunks.push(vec![item]),
        }
    }

    fn absorb(&mut self, other: Chunks<T>) {
        self.chunks
            .extend(other.chunks.into_iter().filter(|chunk| !chunk.is_empty()));
    }

    /// Where the list ends now. Items are only ever added after it, so it stays valid until a
    /// truncation goes behind it.
    fn mark(&self) -> (usize, usize) {
        (self.chunks.len(), self.chunks.last().map_or(0, Vec::len))
    }

    fn truncate(&mut self, (chunks, last_len): (usize, usize)) {
        self.chunks.truncate(chunks);
        if let Some(last) = self.chunks.last_mut() {
            last.truncate(last_len);
        }
    }

    fn into_vec(mut self) -> Vec<T> {
        if self.chunks.len() == 1 {
            return self.chunks.pop().unwrap_or_default();
        }
        let mut all = Vec::with_capacity(self.chunks.iter().map(Vec::len).sum());
        for chunk in self.chunks {
            all.extend(chunk);
        }
        all
    }
}

/// A leaf on its way into a subtree being built: its key and value.
type LeafRef<'a> = (Hash, &'a [u8]);

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
    pub fn apply<V: AsRef<[u8]> + Sync>(
        &self,
        base: ChildRef,
        version: u64,
        mut changes: Vec<Change<V>>,
    ) -> Result<TreeUpdate, LedgerError> {
        // A stable sort keeps duplicates in arrival order, so keeping the last of each run
        // implements "last one wins".
        changes.sort_by_key(|change| change.0);
        if let Some((key, Some(value))) = changes.iter().find(|(_, value)| {
            value
                .as_ref()
                .is_some_and(|v| v.as_ref().len() > MAX_VALUE_LEN)
        }) {
            return Err(LedgerError::Corrupt {
                reason: format!("value of {} bytes for key {key}", value.as_ref().len()),
            });
        }
        let mut deduped: Vec<Change<V>> = Vec::with_capacity(changes.len());
        for change in changes {
            match deduped.last_mut() {
                Some(last) if last.0 == change.0 => *last = change,
                _ => deduped.push(change),
            }
        }
        let mut writes = Writes::default();
        // The root's position is like a child page's: a subtree of two leaves or more there is
        // a page of its own.
        let mut slot = PageBuilder::with_capacity(64, 1);
        match &base {
            _ if deduped.is_empty() => {
                return Ok(TreeUpdate {
                    version,
                    root: base,
                    new_pages: Vec::new(),
                    stale_pages: Vec::new(),
                })
            }
            ChildRef::Page {
                hash,
                version: base_version,
            } => {
                let page = self
                    .source
                    .page(&PageKey::new(*base_version, 0, &Hash::ZERO), hash)?;
                self.update_page(
                    &page,
                    *base_version,
                    0,
                    &deduped,
                    version,
                    &mut slot,
                    &mut writes,
                )?;
            }
            ChildRef::Leaf(leaf) => {
                let leaves = merge_leaf((leaf.key, &leaf.value), &deduped);
                self.build(0, PAGE_LEVELS, &leaves, version, &mut slot, &mut writes)?;
            }
            ChildRef::Empty => {
                let leaves = new_leaves(&deduped);
                self.build(0, PAGE_LEVELS, &leaves, version, &mut slot, &mut writes)?;
            }
        }
        Ok(TreeUpdate {
            version,
            root: slot.page().child_ref(0),
            new_pages: writes.new_pages.into_vec(),
            stale_pages: writes.stale_pages.into_vec(),
        })
    }

    /// Writes into `out` the node at `index` of `old`, at `depth` (`relative` levels below its
    /// page's root), with `changes` applied; returns what the node became. What the changes do
    /// not touch is copied as it is, hashes included.
    #[allow(clippy::too_many_arguments)]
    fn update_node<V: AsRef<[u8]> + Sync>(
        &self,
        old: &Page,
        index: usize,
        depth: usize,
        relative: usize,
        changes: &[Change<V>],
        version: u64,
        out: &mut PageBuilder,
        writes: &mut Writes,
    ) -> Result<Kind, LedgerError> {
        let Some((first_key, _)) = changes.first() else {
            out.copy_subtree(old, index);
            return Ok(old.kind(index));
        };
        match old.kind(index) {
            Kind::Internal if depth >= KEY_BITS => Err(too_deep()),
            Kind::Internal => {
                let [left, right] = old.children(index);
                let split = changes.partition_point(|(key, _)| !key.bit(depth));
                let (left_changes, right_changes) = changes.split_at(split);
                let at = out.open_internal();
                let (left_kind, right_kind) = if changes.len() >= PARALLEL_MIN_CHANGES
                    && !left_changes.is_empty()
                    && !right_changes.is_empty()
                {
                    let update_apart = |child, changes| {
                        let mut out = PageBuilder::with_capacity(1024, 32);
                        let mut writes = Writes::default();
                        let kind = self.update_node(
                            old,
                            child,
                            depth + 1,
                            relative + 1,
                            changes,
                            version,
                            &mut out,
                            &mut writes,
                        )?;
                        Ok::<_, LedgerError>((kind, out, writes))
                    };
                    let (left, right) = join(
                        || update_apart(left, left_changes),
                        || update_apart(right, right_changes),
                    );
                    let (left_kind, left_page, left_writes) = left?;
                    let (right_kind, right_page, right_writes) = right?;
                    out.append(left_page.page());
                    out.append(right_page.page());
                    writes.absorb(left_writes);
                    writes.absorb(right_writes);
                    (left_kind, right_kind)
                } else {
                    let left_kind = self.update_node(
                        old,
                        left,
                        depth + 1,
                        relative + 1,
                        left_changes,
                        version,
                        out,
                        writes,
                    )?;
                    let right_kind = self.update_node(
                        old,
                        right,
                        depth + 1,
                        relative + 1,
                        right_changes,
                        version,
                        out,
                        writes,
                    )?;
                    (left_kind, right_kind)
                };
                let kind = close_internal(out, at, left_kind, right_kind)?;
                if relative == PAGE_LEVELS && kind == Kind::Internal && !out.page().fits_inline(at)
                {
                    // A subtree kept inside the page outgrew it: it becomes a page of its own.
                    let leaves = out.page().leaves_from(at);
                    out.truncate(at);
                    let leaves: Vec<LeafRef<'_>> = leaves
                        .iter()
                        .map(|(key, value)| (*key, value.as_slice()))
                        .collect();
                    return self.build_page(depth, &leaves, version, out, writes);
                }
                Ok(kind)
            }
            Kind::Page => {
                let (hash, page_version) = old.page_ref(index);
                let page = self
                    .source
                    .page(&PageKey::new(page_version, depth, first_key), &hash)?;
                self.update_page(&page, page_version, depth, changes, version, out, writes)
            }
            // One change meets at most one leaf, nearly always: its leaves fit on the stack.
            Kind::Leaf => match changes {
                [change] => {
                    let (leaves, count) = merge_leaf_with_one(old.leaf(index), change);
                    self.build(depth, relative, &leaves[..count], version, out, writes)
                }
                _ => {
                    let leaves = merge_leaf(old.leaf(index), changes);
                    self.build(depth, relative, &leaves, version, out, writes)
                }
            },
            Kind::Empty => match changes {
                [(key, value)] => {
                    let leaf = value.as_ref().map(|value| (*key, value.as_ref()));
                    let leaves = leaf.as_slice();
                    self.build(depth, relative, leaves, version, out, writes)
                }
                _ => {
                    let leaves = new_leaves(changes);
                    self.build(depth, relative, &leaves, version, out, writes)
                }
            },
        }
    }

    /// Updates the page `old` (written at `old_version`, its root at `depth`) with `changes`,
    /// which are not empty, and writes into `out` what stands in its place: a reference to the
    /// new page, or the single leaf or nothing it shrank to.
    #[allow(clippy::too_many_arguments)]
    fn update_page<V: AsRef<[u8]> + Sync>(
        &self,
        old: &Page,
        old_version: u64,
        depth: usize,
        changes: &[Change<V>],
        version: u64,
        out: &mut PageBuilder,
        writes: &mut Writes,
    ) -> Result<Kind, LedgerError> {
        let any_key = changes.first().map_or(Hash::ZERO, |change| change.0);
        let written = writes.mark();
        let mut page = PageBuilder::with_capacity(old.bytes().len() + 64, old.len() + 4);
        let kind = self.update_node(old, 0, depth, 0, changes, version, &mut page, writes)?;
        let old_key = PageKey::new(old_version, depth, &any_key);
        match kind {
            Kind::Internal if page.root_hash() == old.hash() => {
                // Nothing changed (values rewritten with themselves): keep the old page.
                writes.truncate(written);
                out.push_page_ref(old.hash(), old_version);
                Ok(Kind::Page)
            }
            // Below the root, a page that shrank to a few leaves goes inside its parent.
            Kind::Internal if depth > 0 && page.page().fits_inline(0) => {
                writes.stale_pages.push(old_key);
                out.append(page.page());
                Ok(Kind::Internal)
            }
            Kind::Internal => {
                writes.stale_pages.push(old_key);
                Ok(seal(
                    self.source,
                    page,
                    depth,
                    &any_key,
                    version,
                    out,
                    writes,
                ))
            }
            Kind::Empty | Kind::Leaf => {
                writes.stale_pages.push(old_key);
                out.append(page.page());
                Ok(kind)
            }
            Kind::Page => Err(LedgerError::Corrupt {
                reason: "a page's root became a page reference".into(),
            }),
        }
    }

    /// Writes into `out` the canonical subtree at `depth` holding exactly `leaves` (sorted,
    /// distinct keys); at a page boundary below the page being built, a page of its own.
    fn build(
        &self,
        depth: usize,
        relative: usize,
        leaves: &[LeafRef<'_>],
        version: u64,
        out: &mut PageBuilder,
        writes: &mut Writes,
    ) -> Result<Kind, LedgerError> {
        match leaves {
            [] => {
                out.push_empty();
                Ok(Kind::Empty)
            }
            [(key, value)] => {
                out.push_leaf(key, value, leaf_hash(key, value))?;
                Ok(Kind::Leaf)
            }
            [_, _, ..] => {
                if depth >= KEY_BITS {
                    return Err(LedgerError::Corrupt {
                        reason: "two leaves share a key".into(),
                    });
                }
                // At the page's bottom, a few leaves stay inside it; more, or the root's
                // position, make a page of their own.
                let at_bottom = relative == PAGE_LEVELS;
                if at_bottom && (depth == 0 || leaves.len() > MAX_INLINE_LEAVES) {
                    return self.build_page(depth, leaves, version, out, writes);
                }
                let split = leaves.partition_point(|(key, _)| !key.bit(depth));
                let (left, right) = leaves.split_at(split);
                let at = out.open_internal();
                self.build(depth + 1, relative + 1, left, version, out, writes)?;
                self.build(depth + 1, relative + 1, right, version, out, writes)?;
                out.close_internal(at);
                if at_bottom && !out.page().fits_inline(at) {
                    // Leaves that share a long prefix: too many nodes to keep inside.
                    out.truncate(at);
                    return self.build_page(depth, leaves, version, out, writes);
                }
                Ok(Kind::Internal)
            }
        }
    }

    /// Writes `leaves` (two or more, sorted, distinct keys) as a page of their own whose root
    /// sits at `depth`, and a reference to it into `out`.
    fn build_page(
        &self,
        depth: usize,
        leaves: &[LeafRef<'_>],
        version: u64,
        out: &mut PageBuilder,
        writes: &mut Writes,
    ) -> Result<Kind, LedgerError> {
        let any_key = leaves.first().map_or(Hash::ZERO, |(key, _)| *key);
        let mut page = PageBuilder::with_capacity(1024, 32);
        self.build(depth, 0, leaves, version, &mut page, writes)?;
        Ok(seal(
            self.source,
            page,
            depth,
            &any_key,
            version,
            out,
            writes,
        ))
    }

    /// A proof for `key` against the tree whose root is `root`.
    pub fn prove(&self, root: ChildRef, key: &Hash) -> Result<Proof, LedgerError> {
        let mut siblings = Vec::new();
        let mut page = match root {
            ChildRef::Empty => {
                return Ok(Proof {
                    siblings,
                    terminal: ProofTerminal::Empty,
                })
            }
            ChildRef::Leaf(leaf) => {
                return Ok(Proof {
                    siblings,
                    terminal: ProofTerminal::Leaf(leaf),
                })
            }
            ChildRef::Page { hash, version } => {
                self.source.page(&PageKey::new(version, 0, key), &hash)?
            }
        };
        let mut index = 0;
        let mut depth = 0;
        loop {
            match page.kind(index) {
                Kind::Empty => {
                    return Ok(Proof {
                        siblings,
                        terminal: ProofTerminal::Empty,
                    })
                }
                Kind::Leaf => {
                    let (key, value) = page.leaf(index);
                    return Ok(Proof {
                        siblings,
                        terminal: ProofTerminal::Leaf(LeafNode {
                            key,
                            value: value.to_vec(),
                        }),
                    });
                }
                Kind::Page => {
                    let (hash, version) = page.page_ref(index);
                    page = self
                        .source
                        .page(&PageKey::new(version, depth, key), &hash)?;
                    index = 0;
                }
                Kind::Internal if depth >= KEY_BITS => return Err(too_deep()),
                Kind::Internal => {
                    let [left, right] = page.children(index);
                    let (next, sibling) = if key.bit(depth) {
                        (right, left)
                    } else {
                        (left, right)
                    };
                    siblings.push(page.entry(sibling).hash);
                    depth += 1;
                    index = next;
                }
            }
        }
    }

    /// Walks the tree at `root` and returns every leaf, in key order; for tests and audits.
    pub fn leaves(&self, root: ChildRef) -> Result<Vec<LeafNode>, LedgerError> {
        let mut out = Vec::new();
        match root {
            ChildRef::Empty => {}
            ChildRef::Leaf(leaf) => out.push(leaf),
            ChildRef::Page { hash, version } => {
                let page = self
                    .source
                    .page(&PageKey::new(version, 0, &Hash::ZERO), &hash)?;
                self.collect(&page, 0, 0, &Hash::ZERO, &mut out)?;
            }
        }
        Ok(out)
    }

    fn collect(
        &self,
        page: &Page,
        index: usize,
        depth: usize,
        path: &Hash,
        out: &mut Vec<LeafNode>,
    ) -> Result<(), LedgerError> {
        match page.kind(index) {
            Kind::Empty => Ok(()),
            Kind::Leaf => {
                let (key, value) = page.leaf(index);
                out.push(LeafNode {
                    key,
                    value: value.to_vec(),
                });
                Ok(())
            }
            Kind::Page => {
                let (hash, version) = page.page_ref(index);
                let child = self
                    .source
                    .page(&PageKey::new(version, depth, path), &hash)?;
                self.collect(&child, 0, depth, path, out)
            }
            Kind::Internal if depth >= KEY_BITS => Err(too_deep()),
            Kind::Internal => {
                let [left, right] = page.children(index);
                let mut right_path = *path;
                right_path.0[depth / 8] |= 0x80 >> (depth % 8);
                self.collect(page, left, depth + 1, path, out)?;
                self.collect(page, right, depth + 1, &right_path, out)
            }
        }
    }
}

/// Closes the inner node opened at `at` over its two updated children, collapsing it into what
/// the canonical tree holds there when at most one leaf is left below it.
fn close_internal(
    out: &mut PageBuilder,
    at: usize,
    left: Kind,
    right: Kind,
) -> Result<Kind, LedgerError> {
    Ok(match (left, right) {
        (Kind::Empty, Kind::Empty) => {
            out.truncate(at);
            out.push_empty();
            Kind::Empty
        }
        (Kind::Empty, Kind::Leaf) | (Kind::Leaf, Kind::Empty) => {
            let [left_index, right_index] = out.page().children(at);
            let leaf_index = if left == Kind::Leaf {
                left_index
            } else {
                right_index
            };
            let hash = out.page().entry(leaf_index).hash;
            let (key, value) = out.page().leaf(leaf_index);
            let value = value.to_vec();
            out.truncate(at);
            out.push_leaf(&key, &value, hash)?;
            Kind::Leaf
        }
        _ => {
            out.close_internal(at);
            Kind::Internal
        }
    })
}

/// Stores the finished `page` (its root at `depth`) as a new page of `version`, and writes a
/// reference to it into `out`.
fn seal<S: PageSource>(
    source: &S,
    page: PageBuilder,
    depth: usize,
    any_key_below: &Hash,
    version: u64,
    out: &mut PageBuilder,
    writes: &mut Writes,
) -> Kind {
    let page = page.finish();
    out.push_page_ref(page.hash(), version);
    let key = PageKey::new(version, depth, any_key_below);
    source.page_written(&key, &page);
    writes.new_pages.push(NewPage { key, page });
    Kind::Page
}

/// The leaves a subtree holding only `existing` holds once `changes` (sorted) apply.
fn merge_leaf<'a, V: AsRef<[u8]>>(
    existing: LeafRef<'a>,
    changes: &'a [Change<V>],
) -> Vec<LeafRef<'a>> {
    let mut leaves = Vec::with_capacity(changes.len() + 1);
    let mut existing = Some(existing);
    for (key, value) in changes {
        if let Some((existing_key, existing_value)) = existing {
            if existing_key <= *key {
                existing = None;
                // An existing leaf the changes do not replace moves down unchanged.
                if existing_key < *key {
                    leaves.push((existing_key, existing_value));
                }
            }
        }
        if let Some(value) = value {
            leaves.push((*key, value.as_ref()));
        }
    }
    leaves.extend(existing);
    leaves
}

/// [`merge_leaf`] for a single change, without allocating: the leaves and how many there are.
fn merge_leaf_with_one<'a, V: AsRef<[u8]>>(
    existing: LeafRef<'a>,
    (key, value): &'a Change<V>,
) -> ([LeafRef<'a>; 2], usize) {
    let changed = value.as_ref().map(|value| (*key, value.as_ref()));
    match changed {
        None if existing.0 == *key => ([existing; 2], 0),
        None => ([existing; 2], 1),
        Some(changed) if existing.0 == *key => ([changed; 2], 1),
        Some(changed) if existing.0 < *key => ([existing, changed], 2),
        Some(changed) => ([changed, existing], 2),
    }
}

/// The leaves `changes` (sorted) put into an empty subtree.
fn new_leaves<V: AsRef<[u8]>>(changes: &[Change<V>]) -> Vec<LeafRef<'_>> {
    changes
        .iter()
        .filter_map(|(key, value)| value.as_ref().map(|value| (*key, value.as_ref())))
        .collect()
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
    decoded: Option<std::collections::HashMap<PageKey, Page>>,
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
        for new in &update.new_pages {
            match &mut self.decoded {
                Some(decoded) => {
                    decoded.insert(new.key, new.page.clone());
                }
                None => {
                    self.pages.insert(new.key, new.page.bytes().to_vec());
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
    fn page(&self, key: &PageKey, expected: &Hash) -> Result<Page, LedgerError> {
        if let Some(page) = self.decoded.as_ref().and_then(|decoded| decoded.get(key)) {
            if page.hash() == *expected {
                return Ok(page.clone());
            }
        }
        load_page(self.pages.get(key).map(Vec::as_slice), key, expected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_change_merges_as_the_general_case_does() {
        let existing = (Hash([5; 32]), &b"old"[..]);
        for key in [Hash([4; 32]), Hash([5; 32]), Hash([6; 32])] {
            for value in [None, Some(b"new".to_vec())] {
                let change = (key, value);
                let (leaves, count) = merge_leaf_with_one(existing, &change);
                let general = merge_leaf(existing, std::slice::from_ref(&change));
                assert_eq!(&leaves[..count], &general[..], "{change:?}");
            }
        }
    }

    #[test]
    fn chunks_keep_order_and_truncate_back_to_a_mark_across_absorbed_halves() {
        let mut list = Chunks::default();
        list.push(1);
        let mark = list.mark();
        list.push(2);
        let mut left = Chunks::default();
        left.push(3);
        let mut right = Chunks::default();
        right.push(4);
        list.absorb(left);
        list.absorb(Chunks::default());
        list.absorb(right);
        list.push(5);
        let inner = list.mark();
        list.absorb({
            let mut more = Chunks::default();
            more.push(6);
            more
        });
        list.push(7);
        list.truncate(inner);
        list.push(8);
        assert_eq!(
            list.chunks.iter().flatten().copied().collect::<Vec<_>>(),
            [1, 2, 3, 4, 5, 8]
        );
        list.truncate(mark);
        list.push(9);
        assert_eq!(list.into_vec(), [1, 9]);
    }
}
