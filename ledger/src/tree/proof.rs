//! Inclusion and non-inclusion proofs, and their verification with nothing but a root hash.

use borsh::{BorshDeserialize, BorshSerialize};

use super::node::{internal_hash, LeafNode, KEY_BITS};
use crate::{error::LedgerError, hash::Hash};

/// Where the walk from the root along a key's bits ended.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum ProofTerminal {
    /// An empty subtree: the key is absent.
    Empty,
    /// A leaf: the key's own (inclusion), or another key's that holds the key's whole prefix
    /// (non-inclusion, since a subtree with one leaf is that leaf).
    Leaf(LeafNode),
}

/// The sibling hashes from the root down to where the key's path ends, and what it ends in.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Proof {
    /// `siblings[i]` is the hash of the other child at depth `i + 1`.
    pub siblings: Vec<Hash>,
    pub terminal: ProofTerminal,
}

impl Proof {
    /// Checks the proof against `root` for `key`. Returns the value stored under `key`, or
    /// `None` when the proof shows that `key` is absent; an error when the proof is not valid for
    /// this root and key.
    pub fn verify(&self, root: &Hash, key: &Hash) -> Result<Option<&[u8]>, LedgerError> {
        let invalid = |reason: &str| LedgerError::InvalidProof {
            reason: reason.into(),
        };
        let depth = self.siblings.len();
        if depth > KEY_BITS {
            return Err(invalid("longer than a key"));
        }
        let (mut hash, found) = match &self.terminal {
            ProofTerminal::Empty => (Hash::ZERO, None),
            ProofTerminal::Leaf(leaf) => {
                if (0..depth).any(|bit| leaf.key.bit(bit) != key.bit(bit)) {
                    return Err(invalid("the leaf does not lie on the key's path"));
                }
                let found = (leaf.key == *key).then_some(leaf.value.as_slice());
                (leaf.hash(), found)
            }
        };
        for (index, sibling) in self.siblings.iter().enumerate().rev() {
            hash = if key.bit(index) {
                internal_hash(sibling, &hash)
            } else {
                internal_hash(&hash, sibling)
            };
        }
        if hash != *root {
            return Err(invalid("does not lead to the root"));
        }
        Ok(found)
    }
}
