//! Tree pages that committed versions wrote and that are not on disk yet.
//!
//! The store writes the tree's pages only at checkpoints (see [`crate::store`]), and then only
//! the pages the checkpoint's tree still uses. Between two checkpoints, every live page of a
//! later version is held here, so the latest tree reads whole without the database. A page that
//! a later version replaces before the next checkpoint is dropped, never written: at a million
//! accounts a block rewrites about 21,800 pages, and between two checkpoints most positions are
//! rewritten several times. A replay of old versions (see the store) holds its pages here too.

use std::{
    collections::{HashMap, HashSet},
    sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard},
};

use foldhash::fast::RandomState;
use rayon::prelude::*;

use crate::tree::{node::Page, NewPage, PageKey};

/// The held pages are split by the first nibble of their path, each part under a lock of its
/// own, so that a block's tens of thousands of inserts and removals run on all cores. No lock is
/// held while work is handed to the thread pool: a thread that waits for its pool's work may run
/// other work meanwhile, which may want the same lock. The root page goes with the first part.
const SHARDS: usize = 16;

#[derive(Default)]
pub(crate) struct UnwrittenPages {
    shards: [RwLock<Shard>; SHARDS],
}

#[derive(Default)]
struct Shard {
    /// Tens of thousands of pages come and go each block: a fast hasher, not a DoS-resistant
    /// one, since page keys follow from hashes no one chooses cheaply.
    pages: HashMap<PageKey, Page, RandomState>,
    /// Pages the latest committed version no longer uses but the one before it did. They go at
    /// the next version's commit, not at once, so that a reader of the version before the
    /// latest, which may have begun before that commit, still finds them.
    superseded: Vec<PageKey>,
}

impl Shard {
    /// The pages the latest recorded version uses.
    fn live(&self) -> Vec<NewPage> {
        let superseded: HashSet<&PageKey, RandomState> = self.superseded.iter().collect();
        self.pages
            .iter()
            .filter(|(key, _)| !superseded.contains(key))
            .map(|(key, page)| NewPage {
                key: *key,
                page: page.clone(),
            })
            .collect()
    }
}

fn shard_of(key: &PageKey) -> usize {
    usize::from(key.path[0] >> 4)
}

impl UnwrittenPages {
    fn read(&self, shard: usize) -> RwLockReadGuard<'_, Shard> {
        self.shards[shard]
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self, shard: usize) -> RwLockWriteGuard<'_, Shard> {
        self.shards[shard]
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn get(&self, key: &PageKey) -> Option<Page> {
        self.read(shard_of(key)).pages.get(key).cloned()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        (0..SHARDS).map(|shard| self.read(shard).pages.len()).sum()
    }

    /// Takes in a committed version's pages. `stale` are the pages it no longer uses; those held
    /// here (written after `on_disk_through`, the last checkpoint) will never be written. One
    /// version is recorded at a time.
    pub(crate) fn record(&self, new: Vec<NewPage>, stale: &[PageKey], on_disk_through: u64) {
        let mut new_by_shard: [Vec<NewPage>; SHARDS] = Default::default();
        for written in new {
            new_by_shard[shard_of(&written.key)].push(written);
        }
        let mut stale_by_shard: [Vec<PageKey>; SHARDS] = Default::default();
        for key in stale.iter().filter(|key| key.version > on_disk_through) {
            stale_by_shard[shard_of(key)].push(*key);
        }
        new_by_shard
            .into_par_iter()
            .zip(stale_by_shard)
            .enumerate()
            .for_each(|(shard, (new, stale))| {
                let mut shard = self.write(shard);
                for key in std::mem::replace(&mut shard.superseded, stale) {
                    shard.pages.remove(&key);
                }
                shard
                    .pages
                    .extend(new.into_iter().map(|written| (written.key, written.page)));
            });
    }

    /// Takes back out the pages recorded for `version`, whose commit failed after they were
    /// recorded, so that the version before it is again the latest recorded. The pages that
    /// version's recording let go of stay gone: the version before the latest no longer used
    /// them.
    pub(crate) fn withdraw(&self, version: u64) -> Vec<NewPage> {
        let mut withdrawn = Vec::new();
        for shard in 0..SHARDS {
            let mut shard = self.write(shard);
            shard.superseded.clear();
            withdrawn.extend(
                shard
                    .pages
                    .extract_if(|key, _| key.version == version)
                    .map(|(key, page)| NewPage { key, page }),
            );
        }
        withdrawn
    }

    /// The pages the latest recorded version uses, for a checkpoint to write, in no order: the
    /// writer sorts them (see [`sort_for_writing`]) off the commit's path.
    pub(crate) fn live(&self) -> Vec<NewPage> {
        let live: Vec<Vec<NewPage>> = (0..SHARDS)
            .into_par_iter()
            .map(|shard| self.read(shard).live())
            .collect();
        live.concat()
    }

    /// Lets go of the pages the checkpoint at `checkpoint` wrote, once RocksDB holds them: all
    /// of its versions and earlier but the superseded ones, which stay until the next version,
    /// as [`UnwrittenPages::record`] says, and are never written. Pages of the versions after
    /// it, recorded while it was written, stay. Runs on the checkpoint's writer, one part at a
    /// time, outside the thread pool.
    pub(crate) fn checkpoint_written(&self, checkpoint: u64) {
        for shard in 0..SHARDS {
            let mut shard = self.write(shard);
            let Shard { pages, superseded } = &mut *shard;
            let superseded: HashSet<&PageKey, RandomState> = superseded.iter().collect();
            pages.retain(|key, _| key.version > checkpoint || superseded.contains(key));
        }
    }
}

/// Puts `pages` in key order, in which RocksDB's memtable inserts run fastest. Comparing a
/// path's first eight bytes orders every page down to depth 64, and deeper ones closely enough.
pub(crate) fn sort_for_writing(pages: &mut [NewPage]) {
    pages.sort_unstable_by_key(|written| {
        let mut path = [0u8; 8];
        path.copy_from_slice(&written.key.path[..8]);
        (
            written.key.version,
            written.key.level,
            u64::from_be_bytes(path),
        )
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::Hash;

    fn key(version: u64, first: u8) -> PageKey {
        PageKey::new(version, 4, &Hash([first; 32]))
    }

    fn written(key: PageKey) -> NewPage {
        NewPage {
            key,
            page: Page::default(),
        }
    }

    #[test]
    fn replaced_pages_go_one_version_late_and_are_never_written() {
        let unwritten = UnwrittenPages::default();
        // Version 1 writes two pages over a checkpoint at 0.
        unwritten.record(vec![written(key(1, 0x10)), written(key(1, 0x20))], &[], 0);
        // Version 2 replaces one of them and one that a checkpoint wrote.
        unwritten.record(
            vec![written(key(2, 0x10))],
            &[key(1, 0x10), key(0, 0x30)],
            0,
        );
        // A reader of version 1 still finds its page.
        assert!(unwritten.get(&key(1, 0x10)).is_some());
        unwritten.record(vec![], &[], 0);
        assert!(unwritten.get(&key(1, 0x10)).is_none());
        assert_eq!(unwritten.len(), 2);
        // A checkpoint at 4 replaces the page of version 1 and writes what its tree uses.
        unwritten.record(vec![written(key(4, 0x20))], &[key(1, 0x20)], 0);
        let live = |unwritten: &UnwrittenPages| -> Vec<PageKey> {
            let mut live = unwritten.live();
            sort_for_writing(&mut live);
            live.iter().map(|page| page.key).collect()
        };
        let live_keys = live(&unwritten);
        assert_eq!(live_keys, vec![key(2, 0x10), key(4, 0x20)]);
        unwritten.checkpoint_written(4);
        // The replaced page stays for one version more, and is never written.
        assert!(unwritten.get(&key(1, 0x20)).is_some());
        unwritten.record(vec![], &[], 4);
        assert_eq!(unwritten.len(), 0);
        // A checkpoint written behind the versions after it keeps their pages, and its own
        // until it is written: version 9 replaced one of them meanwhile.
        unwritten.record(vec![written(key(8, 0x10)), written(key(8, 0x20))], &[], 4);
        assert_eq!(live(&unwritten), vec![key(8, 0x10), key(8, 0x20)]);
        unwritten.record(vec![written(key(9, 0x10))], &[key(8, 0x10)], 8);
        unwritten.record(vec![], &[], 8);
        assert!(unwritten.get(&key(8, 0x10)).is_some());
        unwritten.checkpoint_written(8);
        assert!(unwritten.get(&key(8, 0x10)).is_none());
        assert!(unwritten.get(&key(8, 0x20)).is_none());
        assert!(unwritten.get(&key(9, 0x10)).is_some());
    }

    #[test]
    fn a_withdrawn_version_leaves_the_one_before_whole() {
        let unwritten = UnwrittenPages::default();
        unwritten.record(vec![written(key(1, 0x10)), written(key(1, 0x20))], &[], 0);
        unwritten.record(vec![written(key(2, 0x10))], &[key(1, 0x10)], 0);
        // Version 3 replaces version 2's page and lets go of version 1's, then fails.
        unwritten.record(vec![written(key(3, 0x10))], &[key(2, 0x10)], 0);
        let withdrawn: Vec<PageKey> = unwritten.withdraw(3).iter().map(|p| p.key).collect();
        assert_eq!(withdrawn, vec![key(3, 0x10)]);
        assert!(unwritten.get(&key(1, 0x10)).is_none());
        let mut live: Vec<PageKey> = unwritten.live().iter().map(|p| p.key).collect();
        live.sort();
        assert_eq!(live, vec![key(1, 0x20), key(2, 0x10)]);
        // Version 3 again, another way: version 2's page is replaced only now.
        unwritten.record(vec![written(key(3, 0x20))], &[key(1, 0x20)], 0);
        unwritten.record(vec![], &[], 0);
        let mut live: Vec<PageKey> = unwritten.live().iter().map(|p| p.key).collect();
        live.sort();
        assert_eq!(live, vec![key(2, 0x10), key(3, 0x20)]);
    }
}
