//! Tree nodes, their hashes, and the page format nodes are stored in.
//!
//! A page holds four levels of the binary tree below a node at a depth that is a multiple of four
//! (one nibble of the key): its inner nodes and leaves, and references to the pages one nibble
//! deeper at its bottom (their hash and version), or, where a subtree there holds only a few
//! leaves, that subtree itself (see [`MAX_INLINE_LEAVES`]). A path from the root to a leaf at
//! depth 20 is five page reads, and updating one account rewrites one small page per nibble of
//! depth instead of one record per bit.
//!
//! In memory a page is its stored bytes plus one [`Entry`] per node, both in preorder, so a
//! subtree is one contiguous range of each: an update copies the subtrees it does not touch as two
//! slices and writes only the nodes on its paths. A finished page is one allocation, not one per
//! node.
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
        leaf_hash(&self.key, &self.value)
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PageKey {
    pub version: u64,
    /// Depth of the page's root in pages (its bit depth divided by [`PAGE_LEVELS`]).
    pub level: u8,
    /// The key's first `level * PAGE_LEVELS` bits; the rest is zero.
    pub path: [u8; 32],
}

/// Hashes the version, the level and the path's first 128 bits. The path is a prefix of a
/// SHA-256 digest, so those bits tell pages apart as well as all 256 do (keys that share them
/// cost some 2^64 hashes to find), and four words hash in a fraction of the time of 41 bytes:
/// the store looks up some 44,000 page keys a block.
impl std::hash::Hash for PageKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let mut front = [0u8; 8];
        let mut back = [0u8; 8];
        front.copy_from_slice(&self.path[..8]);
        back.copy_from_slice(&self.path[8..16]);
        state.write_u64(self.version);
        state.write_u8(self.level);
        state.write_u64(u64::from_ne_bytes(front));
        state.write_u64(u64::from_ne_bytes(back));
    }
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
        let mut bytes = Vec::with_capacity(9 + 32);
        self.encode_into(&mut bytes);
        bytes
    }

    /// [`PageKey::encode`] into `out`, replacing what it held. Keys sort as their encodings do.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let path_len = Self::path_len(self.level);
        out.clear();
        out.extend_from_slice(&self.version.to_be_bytes());
        out.push(self.level);
        out.extend_from_slice(&self.path[..path_len]);
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

const TAG_EMPTY: u8 = 0;
const TAG_LEAF: u8 = 1;
const TAG_INTERNAL: u8 = 2;
const TAG_PAGE: u8 = 3;

/// Bytes of a leaf before its value: tag, key, value length.
const LEAF_HEADER: usize = 1 + 32 + 1;
/// Bytes of a child page reference: tag, hash, version.
const PAGE_REF_LEN: usize = 1 + 32 + 8;

/// Most leaves a subtree at a page's bottom may hold and still be kept inside the page, below
/// its four levels, rather than as a page of its own. At a million accounts the bottom of the
/// fifth level of pages (depth 20) holds about one leaf per position, and a quarter of its
/// positions two or more: as pages of their own, those were a third of the pages every block
/// rewrote, each holding two or three leaves.
pub const MAX_INLINE_LEAVES: usize = 4;
/// Most nodes such a subtree may hold: leaves that share a long prefix need a chain of inner
/// nodes, and past this the subtree is a page of its own, so a page's size stays bounded.
pub const MAX_INLINE_NODES: usize = 32;

/// The most bytes a subtree kept inside its page can take.
const MAX_INLINE_BYTES: usize =
    MAX_INLINE_LEAVES * (LEAF_HEADER + MAX_VALUE_LEN) + MAX_INLINE_NODES - MAX_INLINE_LEAVES;
/// The most bytes a page can hold: a full bottom level of the largest subtrees, and the inner
/// nodes' tags above it. Entries address a page's bytes with 16 bits.
const MAX_PAGE_BYTES: usize = (1 << PAGE_LEVELS) * MAX_INLINE_BYTES + (1 << PAGE_LEVELS) - 1;
const _: () = assert!(MAX_PAGE_BYTES < u16::MAX as usize);
const _: () = assert!(LEAF_HEADER + MAX_VALUE_LEN <= MAX_INLINE_BYTES);

/// `SHA-256(0x00 || key || value)`, as [`LeafNode::hash`].
pub fn leaf_hash(key: &Hash, value: &[u8]) -> Hash {
    Hash::digest_parts(&[&[LEAF_DOMAIN], &key.0, value])
}

/// One node of a page, in preorder: its hash, where its bytes start, and where its subtree's
/// entries end. Its subtree's bytes end where the next entry's start (or with the page).
///
/// A page holds at most a few hundred nodes in under 64 KiB, so 16-bit offsets suffice, and an
/// entry is 36 bytes: a block's update copies tens of megabytes of entries, so every byte counts.
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct Entry {
    pub hash: Hash,
    start: u16,
    next: u16,
}

/// What a node of a page is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Empty,
    Leaf,
    Internal,
    /// The root of a page one nibble deeper.
    Page,
}

/// A decoded page: the bytes as stored, serialised in preorder (a tag byte per node; then
/// nothing more for an inner node; a leaf's key, value length (one byte) and value; or a child
/// page's hash and version, big-endian), and an [`Entry`] per node in the same order.
///
/// Root hash, entries and bytes live in one shared allocation: a block replaces tens of
/// thousands of pages, and each allocation is one more cache miss to make it and, on another
/// thread, one more to free it. Cloning a page clones a reference.
#[derive(Clone)]
pub struct Page {
    /// In 16-bit words: the root hash, the entry count, the byte count (the header), then the
    /// entries, then the bytes, padded to a whole word.
    words: Arc<[u16]>,
}

/// Words of a page's root hash, at the start of its header.
const ROOT_WORDS: usize = 16;
/// Where the header holds the entry count, and the byte count.
const ENTRY_COUNT_AT: usize = ROOT_WORDS;
const BYTE_COUNT_AT: usize = ROOT_WORDS + 1;
/// Words before a page's entries.
const HEADER_WORDS: usize = ROOT_WORDS + 2;
const ENTRY_WORDS: usize = std::mem::size_of::<Entry>() / 2;
const _: () = assert!(std::mem::size_of::<Entry>() == 36 && std::mem::align_of::<Entry>() <= 2);

impl std::fmt::Debug for Page {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Page")
            .field("root", &self.hash())
            .field("entries", &self.len())
            .field("bytes", &self.bytes().len())
            .finish()
    }
}

impl Default for Page {
    fn default() -> Page {
        Page::from_parts(Hash::ZERO, &[], &[])
    }
}

impl Page {
    fn from_parts(root: Hash, entries: &[Entry], bytes: &[u8]) -> Page {
        thread_local! {
            // Where a page is laid out before it is copied into its one allocation.
            static SCRATCH: std::cell::RefCell<Vec<u16>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        SCRATCH.with_borrow_mut(|words| Page::from_parts_in(words, root, entries, bytes))
    }

    fn from_parts_in(words: &mut Vec<u16>, root: Hash, entries: &[Entry], bytes: &[u8]) -> Page {
        let entry_words = entries.len() * ENTRY_WORDS;
        words.clear();
        words.resize(HEADER_WORDS + entry_words + bytes.len().div_ceil(2), 0);
        let (header, rest) = words.split_at_mut(HEADER_WORDS);
        bytemuck::cast_slice_mut::<u16, u8>(&mut header[..ROOT_WORDS]).copy_from_slice(&root.0);
        // A page holds a few hundred nodes at most, in under 64 KiB (see `MAX_PAGE_BYTES`).
        header[ENTRY_COUNT_AT] = entries.len() as u16;
        header[BYTE_COUNT_AT] = bytes.len() as u16;
        let (entry_part, byte_part) = rest.split_at_mut(entry_words);
        bytemuck::cast_slice_mut::<u16, u8>(entry_part)
            .copy_from_slice(bytemuck::cast_slice::<Entry, u8>(entries));
        bytemuck::cast_slice_mut::<u16, u8>(byte_part)[..bytes.len()].copy_from_slice(bytes);
        Page {
            words: Arc::from(&words[..]),
        }
    }

    fn view(&self) -> PageView<'_> {
        let entry_count = usize::from(self.words[ENTRY_COUNT_AT]);
        let byte_count = usize::from(self.words[BYTE_COUNT_AT]);
        let (entries, bytes) = self.words[HEADER_WORDS..].split_at(entry_count * ENTRY_WORDS);
        PageView {
            entries: bytemuck::cast_slice(entries),
            bytes: &bytemuck::cast_slice::<u16, u8>(bytes)[..byte_count],
        }
    }

    /// The stored form.
    pub fn bytes(&self) -> &[u8] {
        self.view().bytes
    }

    /// The hash of the page's root, which its parent refers to it by.
    pub fn hash(&self) -> Hash {
        let mut root = [0u8; 32];
        root.copy_from_slice(bytemuck::cast_slice::<u16, u8>(&self.words[..ROOT_WORDS]));
        Hash(root)
    }

    pub fn len(&self) -> usize {
        usize::from(self.words[ENTRY_COUNT_AT])
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn entry(&self, index: usize) -> Entry {
        self.view().entries[index]
    }

    pub fn kind(&self, index: usize) -> Kind {
        self.view().kind(index)
    }

    /// The children of the inner node at `index`.
    pub fn children(&self, index: usize) -> [usize; 2] {
        self.view().children(index)
    }

    /// The key and value of the leaf at `index`.
    pub fn leaf(&self, index: usize) -> (Hash, &[u8]) {
        self.view().leaf(index)
    }

    /// The hash and version of the child page referred to at `index`.
    pub fn page_ref(&self, index: usize) -> (Hash, u64) {
        self.view().page_ref(index)
    }

    /// The node at `index` as a reference from outside the page: only empty nodes and leaves
    /// can stand for a whole page's position.
    pub fn child_ref(&self, index: usize) -> ChildRef {
        self.view().child_ref(index)
    }
}

/// A page's entries and bytes, whether in a finished [`Page`] or in a [`PageBuilder`].
#[derive(Clone, Copy, Debug)]
pub struct PageView<'a> {
    entries: &'a [Entry],
    bytes: &'a [u8],
}

impl<'a> PageView<'a> {
    pub fn entry(&self, index: usize) -> &'a Entry {
        &self.entries[index]
    }

    pub fn kind(&self, index: usize) -> Kind {
        match self.bytes[usize::from(self.entries[index].start)] {
            TAG_EMPTY => Kind::Empty,
            TAG_LEAF => Kind::Leaf,
            TAG_INTERNAL => Kind::Internal,
            _ => Kind::Page,
        }
    }

    /// Where the bytes of the subtree at `index` end.
    fn subtree_end(&self, index: usize) -> usize {
        let next = usize::from(self.entries[index].next);
        self.entries
            .get(next)
            .map_or(self.bytes.len(), |entry| usize::from(entry.start))
    }

    /// The children of the inner node at `index`.
    pub fn children(&self, index: usize) -> [usize; 2] {
        let left = index + 1;
        [left, usize::from(self.entries[left].next)]
    }

    /// Whether the nodes from `index` to the end, one subtree, may stay inside a page below its
    /// four levels (see [`MAX_INLINE_LEAVES`]): few nodes, few leaves, no pages.
    pub fn fits_inline(&self, index: usize) -> bool {
        if self.entries.len().saturating_sub(index) > MAX_INLINE_NODES {
            return false;
        }
        let mut leaves = 0;
        for node in index..self.entries.len() {
            match self.kind(node) {
                Kind::Leaf => leaves += 1,
                Kind::Page => return false,
                Kind::Empty | Kind::Internal => {}
            }
        }
        leaves <= MAX_INLINE_LEAVES
    }

    /// The leaves of the nodes from `index` to the end, in order, as owned keys and values.
    pub fn leaves_from(&self, index: usize) -> Vec<(Hash, Vec<u8>)> {
        (index..self.entries.len())
            .filter(|node| self.kind(*node) == Kind::Leaf)
            .map(|node| {
                let (key, value) = self.leaf(node);
                (key, value.to_vec())
            })
            .collect()
    }

    /// The key and value of the leaf at `index`.
    pub fn leaf(&self, index: usize) -> (Hash, &'a [u8]) {
        let start = usize::from(self.entries[index].start);
        let mut key = [0u8; 32];
        key.copy_from_slice(&self.bytes[start + 1..start + 33]);
        (
            Hash(key),
            &self.bytes[start + LEAF_HEADER..self.subtree_end(index)],
        )
    }

    /// The hash and version of the child page referred to at `index`.
    pub fn page_ref(&self, index: usize) -> (Hash, u64) {
        let start = usize::from(self.entries[index].start);
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&self.bytes[start + 1..start + 33]);
        let mut version = [0u8; 8];
        version.copy_from_slice(&self.bytes[start + 33..start + PAGE_REF_LEN]);
        (Hash(hash), u64::from_be_bytes(version))
    }

    pub fn child_ref(&self, index: usize) -> ChildRef {
        match self.kind(index) {
            Kind::Leaf => {
                let (key, value) = self.leaf(index);
                ChildRef::Leaf(LeafNode {
                    key,
                    value: value.to_vec(),
                })
            }
            Kind::Page => {
                let (hash, version) = self.page_ref(index);
                ChildRef::Page { hash, version }
            }
            Kind::Empty | Kind::Internal => ChildRef::Empty,
        }
    }
}

/// Builds a page node by node, in preorder.
#[derive(Debug, Default)]
pub struct PageBuilder {
    bytes: Vec<u8>,
    entries: Vec<Entry>,
}

impl PageBuilder {
    pub fn with_capacity(bytes: usize, entries: usize) -> PageBuilder {
        PageBuilder {
            bytes: Vec::with_capacity(bytes),
            entries: Vec::with_capacity(entries),
        }
    }

    pub fn page(&self) -> PageView<'_> {
        PageView {
            entries: &self.entries,
            bytes: &self.bytes,
        }
    }

    /// The hash of the first node written: the root, once the page is complete.
    pub fn root_hash(&self) -> Hash {
        self.entries.first().map_or(Hash::ZERO, |entry| entry.hash)
    }

    pub fn finish(self) -> Page {
        Page::from_parts(self.root_hash(), &self.entries, &self.bytes)
    }

    fn push(&mut self, hash: Hash, start: usize) {
        let next = self.entries.len() as u16 + 1;
        self.entries.push(Entry {
            hash,
            start: start as u16,
            next,
        });
    }

    pub fn push_empty(&mut self) {
        let start = self.bytes.len();
        self.bytes.push(TAG_EMPTY);
        self.push(Hash::ZERO, start);
    }

    /// Appends a leaf. A value longer than [`MAX_VALUE_LEN`] has no page encoding and is refused.
    pub fn push_leaf(&mut self, key: &Hash, value: &[u8], hash: Hash) -> Result<(), LedgerError> {
        let len = u8::try_from(value.len()).map_err(|_| LedgerError::Corrupt {
            reason: format!("leaf value of {} bytes", value.len()),
        })?;
        let start = self.bytes.len();
        self.bytes.push(TAG_LEAF);
        self.bytes.extend_from_slice(&key.0);
        self.bytes.push(len);
        self.bytes.extend_from_slice(value);
        self.push(hash, start);
        Ok(())
    }

    pub fn push_page_ref(&mut self, hash: Hash, version: u64) {
        let start = self.bytes.len();
        self.bytes.push(TAG_PAGE);
        self.bytes.extend_from_slice(&hash.0);
        self.bytes.extend_from_slice(&version.to_be_bytes());
        self.push(hash, start);
    }

    /// Opens an inner node; its two children follow, then [`PageBuilder::close_internal`].
    pub fn open_internal(&mut self) -> usize {
        let start = self.bytes.len();
        self.bytes.push(TAG_INTERNAL);
        self.push(Hash::ZERO, start);
        self.entries.len() - 1
    }

    /// Closes the inner node opened at `index` over the two children written since.
    pub fn close_internal(&mut self, index: usize) -> Hash {
        let [left, right] = self.page().children(index);
        let hash = internal_hash(&self.entries[left].hash, &self.entries[right].hash);
        let next = self.entries.len() as u16;
        let entry = &mut self.entries[index];
        entry.hash = hash;
        entry.next = next;
        hash
    }

    /// Drops every node from `mark` on.
    pub fn truncate(&mut self, mark: usize) {
        if let Some(entry) = self.entries.get(mark) {
            self.bytes.truncate(usize::from(entry.start));
            self.entries.truncate(mark);
        }
    }

    /// Appends the subtree rooted at `index` of `page` unchanged.
    pub fn copy_subtree(&mut self, page: &Page, index: usize) {
        self.copy_from(page.view(), index);
    }

    fn copy_from(&mut self, page: PageView<'_>, index: usize) {
        let first = &page.entries[index];
        let (start, end, next) = (
            usize::from(first.start),
            page.subtree_end(index),
            usize::from(first.next),
        );
        let byte_shift = self.bytes.len() as i64 - start as i64;
        let index_shift = self.entries.len() as i64 - index as i64;
        self.bytes.extend_from_slice(&page.bytes[start..end]);
        self.entries
            .extend(page.entries[index..next].iter().map(|entry| Entry {
                hash: entry.hash,
                start: (i64::from(entry.start) + byte_shift) as u16,
                next: (i64::from(entry.next) + index_shift) as u16,
            }));
    }

    /// Appends every node `other` holds (a subtree built apart).
    pub fn append(&mut self, other: PageView<'_>) {
        if !other.entries.is_empty() {
            self.copy_from(other, 0);
        }
    }
}

/// Reads a page back, hashing its nodes, and checks that its root hashes to what its parent
/// expects: a page that does not is corrupt, whatever the reason.
pub fn decode_page(bytes: &[u8], expected: &Hash) -> Result<Page, LedgerError> {
    struct Reader<'a> {
        bytes: &'a [u8],
        at: usize,
        entries: Vec<Entry>,
        leaves: usize,
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
        fn finish(&mut self, index: usize, hash: Hash) {
            let next = self.entries.len() as u16;
            let entry = &mut self.entries[index];
            entry.hash = hash;
            entry.next = next;
        }
        /// Reads one node and its subtree; returns its hash and kind.
        fn node(&mut self, relative_depth: usize) -> Result<(Hash, Kind), LedgerError> {
            let index = self.entries.len();
            // The structure read so far bounds `at` (see `MAX_PAGE_BYTES`).
            self.entries.push(Entry {
                hash: Hash::ZERO,
                start: self.at as u16,
                next: 0,
            });
            let tag = self.take(1)?[0];
            let (hash, kind) = match tag {
                TAG_EMPTY if relative_depth > 0 => (Hash::ZERO, Kind::Empty),
                TAG_LEAF if relative_depth > 0 => {
                    let key = self.hash()?;
                    let len = usize::from(self.take(1)?[0]);
                    let hash = leaf_hash(&key, self.take(len)?);
                    self.leaves += 1;
                    (hash, Kind::Leaf)
                }
                // Below the page's four levels only a subtree kept inside it, bounded in nodes
                // and so in depth.
                TAG_INTERNAL if relative_depth < PAGE_LEVELS + MAX_INLINE_NODES => {
                    let leaves_before = self.leaves;
                    let (left, left_kind) = self.node(relative_depth + 1)?;
                    let (right, right_kind) = self.node(relative_depth + 1)?;
                    // One leaf or none below an inner node would have been stored higher up.
                    let collapsible = matches!(
                        (left_kind, right_kind),
                        (Kind::Empty, Kind::Empty | Kind::Leaf) | (Kind::Leaf, Kind::Empty)
                    );
                    if collapsible {
                        return Err(LedgerError::Corrupt {
                            reason: "page holds a non-canonical inner node".into(),
                        });
                    }
                    let inline_too_large = relative_depth == PAGE_LEVELS
                        && (self.entries.len() - index > MAX_INLINE_NODES
                            || self.leaves - leaves_before > MAX_INLINE_LEAVES);
                    if inline_too_large {
                        return Err(LedgerError::Corrupt {
                            reason: "page holds too large a subtree below its levels".into(),
                        });
                    }
                    (internal_hash(&left, &right), Kind::Internal)
                }
                TAG_PAGE if relative_depth == PAGE_LEVELS => (self.hash()?, {
                    self.take(8)?;
                    Kind::Page
                }),
                _ => {
                    return Err(LedgerError::Corrupt {
                        reason: format!("page tag {tag} at relative depth {relative_depth}"),
                    })
                }
            };
            self.finish(index, hash);
            Ok((hash, kind))
        }
    }
    if bytes.len() > MAX_PAGE_BYTES {
        return Err(LedgerError::Corrupt {
            reason: format!("page of {} bytes", bytes.len()),
        });
    }
    let mut reader = Reader {
        bytes,
        at: 0,
        entries: Vec::with_capacity(32),
        leaves: 0,
    };
    let (hash, kind) = reader.node(0)?;
    if kind != Kind::Internal {
        return Err(LedgerError::Corrupt {
            reason: "a page root must be an inner node".into(),
        });
    }
    if reader.at != bytes.len() {
        return Err(LedgerError::Corrupt {
            reason: "page has trailing bytes".into(),
        });
    }
    if hash != *expected {
        return Err(LedgerError::Corrupt {
            reason: format!("page hashes to {hash} but its parent expects {expected}"),
        });
    }
    Ok(Page::from_parts(hash, &reader.entries, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page of one inner node over two leaves with values of `value_len` bytes, built as the
    /// tree builds it, and the same page finished from a copy.
    fn built(value_len: usize) -> (PageBuilder, Page) {
        let mut builder = PageBuilder::with_capacity(0, 0);
        let at = builder.open_internal();
        let value = vec![0xab; value_len];
        // The keys' first bits differ: 0 goes left, 1 right.
        for key in [Hash([0x11; 32]), Hash([0x91; 32])] {
            builder
                .push_leaf(&key, &value, leaf_hash(&key, &value))
                .unwrap();
        }
        builder.close_internal(at);
        let mut copy = PageBuilder::with_capacity(0, 0);
        copy.append(builder.page());
        (builder, copy.finish())
    }

    #[test]
    fn a_finished_page_reads_back_as_it_was_built_whatever_its_length() {
        // Odd and even byte counts: the bytes share 16-bit words with nothing else.
        for value_len in [0, 1, 2, 7, 8, MAX_VALUE_LEN] {
            let (builder, page) = built(value_len);
            let view = builder.page();
            assert_eq!(page.bytes(), view.bytes, "value of {value_len} bytes");
            assert_eq!(page.len(), view.entries.len());
            assert_eq!(page.hash(), builder.root_hash());
            for index in 0..page.len() {
                assert_eq!(page.entry(index).hash, view.entry(index).hash);
                assert_eq!(page.kind(index), view.kind(index));
            }
            assert_eq!(page.leaf(1), view.leaf(1));
            assert_eq!(page.leaf(2), view.leaf(2));
            let decoded = decode_page(page.bytes(), &page.hash()).unwrap();
            assert_eq!(decoded.bytes(), page.bytes());
            assert_eq!(decoded.hash(), page.hash());
        }
        let empty = Page::default();
        assert!(empty.is_empty() && empty.bytes().is_empty());
    }
}
