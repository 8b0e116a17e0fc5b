//! Decoded tree pages kept in memory, by their position in the tree.
//!
//! Every block reads and replaces the pages on its paths: at a million accounts, about 21,800 of
//! each, all in the top six levels of pages (depths 0 to 20, 1,118,481 positions). Near the
//! root every position is occupied, and below that the positions fill as accounts grow. So the top
//! levels that fit the cache's budget whole give each position a slot of its own, found by
//! arithmetic on the path: no hashing, no eviction bookkeeping, one cache miss less per access than
//! a hash map. Measured at a million accounts, this took about a tenth of a block's CPU off. The
//! rest of the budget goes to deeper pages, in a cache that evicts the least used.
//!
//! Each entry is the newest page seen at its position, with the version that wrote it; every hit is
//! checked against the hash its parent expects, so an entry of another version is only a miss.

use std::sync::{Mutex, PoisonError};

use quick_cache::sync::Cache;

use crate::tree::{node::Page, PageKey};

/// Most levels of pages (four binary levels each) whose positions all have a slot: 1,118,481
/// slots of 24 bytes. One level more would be 17.9 million.
const MAX_SLOTTED_LEVELS: u8 = 6;

/// A page and the version that wrote it.
pub(crate) type Cached = (u64, Page);

/// Where a page sits in the tree, whatever version wrote it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct PagePosition {
    level: u8,
    path: [u8; 32],
}

impl PagePosition {
    pub(crate) fn of(key: &PageKey) -> PagePosition {
        PagePosition {
            level: key.level,
            path: key.path,
        }
    }

    /// The slot of a position in the top `levels` levels: the slots of shallower levels first,
    /// then the path's nibbles read as a number.
    fn slot(&self, levels: u8) -> Option<usize> {
        if self.level >= levels.min(MAX_SLOTTED_LEVELS) {
            return None;
        }
        let bits = u32::from(self.level) * 4;
        let prefix = u32::from_be_bytes([self.path[0], self.path[1], self.path[2], 0])
            .checked_shr(32 - bits)
            .unwrap_or(0) as usize;
        Some(slots_above(self.level) + prefix)
    }
}

/// Slots taken by the levels above `level`: 1 + 16 + … + 16^(level-1).
fn slots_above(level: u8) -> usize {
    ((1usize << (4 * u32::from(level))) - 1) / 15
}

pub(crate) struct PageCache {
    slotted_levels: u8,
    slots: Vec<Mutex<Option<Cached>>>,
    deeper: Cache<PagePosition, Cached>,
}

impl PageCache {
    /// A cache of at most `pages` pages: the top levels that fit whole, the rest deeper.
    pub(crate) fn new(pages: usize) -> PageCache {
        let slotted_levels = (0..=MAX_SLOTTED_LEVELS)
            .rev()
            .find(|levels| slots_above(*levels) <= pages)
            .unwrap_or(0);
        let slots = slots_above(slotted_levels);
        PageCache {
            slotted_levels,
            slots: (0..slots).map(|_| Mutex::new(None)).collect(),
            deeper: Cache::new(pages.saturating_sub(slots).max(1)),
        }
    }

    fn slot(&self, position: &PagePosition) -> Option<&Mutex<Option<Cached>>> {
        position
            .slot(self.slotted_levels)
            .and_then(|index| self.slots.get(index))
    }

    pub(crate) fn get(&self, position: &PagePosition) -> Option<Cached> {
        match self.slot(position) {
            Some(slot) => slot.lock().unwrap_or_else(PoisonError::into_inner).clone(),
            None => self.deeper.get(position),
        }
    }

    /// Puts `page` at its position, in place of what was there. Returns the page it replaced, so
    /// the caller chooses where the cost of freeing it falls.
    pub(crate) fn insert(&self, position: PagePosition, entry: Cached) -> Option<Cached> {
        match self.slot(&position) {
            Some(slot) => slot
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .replace(entry),
            None => {
                self.deeper.insert(position, entry);
                None
            }
        }
    }

    /// Puts `page` at its position unless a page of the same or a later version is there: a
    /// proof at an old height must not push the latest tree's page out of its place.
    pub(crate) fn insert_if_newer(&self, position: PagePosition, entry: Cached) {
        match self.slot(&position) {
            Some(slot) => {
                let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
                if slot.as_ref().is_none_or(|(version, _)| *version < entry.0) {
                    *slot = Some(entry);
                }
            }
            None => {
                if self
                    .deeper
                    .get(&position)
                    .is_none_or(|(version, _)| version < entry.0)
                {
                    self.deeper.insert(position, entry);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::Hash;

    #[test]
    fn every_top_position_has_its_own_slot() {
        let mut seen = std::collections::HashSet::new();
        for level in 0..MAX_SLOTTED_LEVELS {
            let bits = usize::from(level) * 4;
            for prefix in 0u32..(1 << bits) {
                let mut key = [0u8; 32];
                // The prefix's bits first, then ones that the position must ignore.
                let shifted = if bits == 0 { 0 } else { prefix << (32 - bits) };
                key[..4].copy_from_slice(&shifted.to_be_bytes());
                for byte in key.iter_mut().skip(bits.div_ceil(8)) {
                    *byte = 0xff;
                }
                if bits % 8 != 0 {
                    key[bits / 8] |= 0xff >> (bits % 8);
                }
                let position = PagePosition::of(&PageKey::new(7, bits, &Hash(key)));
                let slot = position.slot(MAX_SLOTTED_LEVELS).unwrap();
                assert!(slot < slots_above(MAX_SLOTTED_LEVELS));
                assert!(
                    seen.insert(slot),
                    "level {level} prefix {prefix} shares a slot"
                );
            }
        }
        assert_eq!(seen.len(), slots_above(MAX_SLOTTED_LEVELS));
        let deep = PageKey::new(1, usize::from(MAX_SLOTTED_LEVELS) * 4, &Hash([0xab; 32]));
        assert_eq!(PagePosition::of(&deep).slot(MAX_SLOTTED_LEVELS), None);
        let shallow = PageKey::new(1, 8, &Hash([0xab; 32]));
        assert_eq!(PagePosition::of(&shallow).slot(2), None);
    }

    #[test]
    fn the_budget_bounds_slots_and_deeper_pages_together() {
        for (pages, levels) in [
            (0, 0),
            (1, 1),
            (1024, 3),
            (1 << 19, 5),
            (1 << 21, 6),
            (1 << 24, 6),
        ] {
            let cache = PageCache::new(pages);
            assert_eq!(cache.slotted_levels, levels, "{pages} pages");
            assert_eq!(cache.slots.len(), slots_above(levels));
        }
    }

    #[test]
    fn a_slot_keeps_the_newest_version_it_was_offered() {
        let cache = PageCache::new(1024);
        let key = |version| PageKey::new(version, 4, &Hash([0x5a; 32]));
        let page = Page::default();
        let position = PagePosition::of(&key(3));
        assert!(cache.get(&position).is_none());
        assert!(cache.insert(position, (3, page.clone())).is_none());
        cache.insert_if_newer(position, (2, page.clone()));
        assert_eq!(cache.get(&position).map(|(version, _)| version), Some(3));
        cache.insert_if_newer(position, (4, page.clone()));
        assert_eq!(cache.get(&position).map(|(version, _)| version), Some(4));
        let replaced = cache.insert(position, (1, page));
        assert_eq!(replaced.map(|(version, _)| version), Some(4));
        assert_eq!(cache.get(&position).map(|(version, _)| version), Some(1));
    }
}
