//! The naive definition of the root: recomputed from all leaves, with no storage and no paging.
//! The real tree must always agree with it.

use super::node::{internal_hash, LeafNode, KEY_BITS};
use crate::hash::Hash;

/// The root of the canonical tree holding `leaves` (any order; keys must be distinct).
pub fn reference_root(leaves: &[LeafNode]) -> Hash {
    let mut sorted = leaves.to_vec();
    sorted.sort_by_key(|leaf| leaf.key);
    subtree(&sorted, 0)
}

fn subtree(leaves: &[LeafNode], depth: usize) -> Hash {
    match leaves {
        [] => Hash::ZERO,
        [leaf] => leaf.hash(),
        // Only reachable with duplicate keys, which have no canonical tree.
        [first, ..] if depth >= KEY_BITS => first.hash(),
        _ => {
            let split = leaves.partition_point(|leaf| !leaf.key.bit(depth));
            let (left, right) = leaves.split_at(split);
            internal_hash(&subtree(left, depth + 1), &subtree(right, depth + 1))
        }
    }
}
