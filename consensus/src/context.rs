//! The seams through which the core meets the outside world: value ids, keys and signatures.
//!
//! The core never holds a key. It asks a [`Signer`] to sign canonical bytes and asks the
//! [`Context`] to verify signatures, so the node can plug in ed25519 (or anything else) and tests can
//! plug in a cheap deterministic scheme.

use std::{fmt::Debug, hash::Hash};

/// The identifier of a proposed value (a block id in Cairn).
///
/// The core compares, orders and hashes value ids and signs over their canonical bytes; it never
/// looks inside the value itself.
pub trait ValueId: Clone + Debug + Eq + Ord + Hash {
    /// Appends the canonical bytes of this id to `out`.
    ///
    /// Two different ids must never produce the same bytes. The encoding is the last field of every
    /// signed message, so it does not need its own length prefix.
    fn encode(&self, out: &mut Vec<u8>);
}

impl<const N: usize> ValueId for [u8; N] {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}

impl ValueId for u64 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes());
    }
}

/// The types a deployment plugs into the core, and how signatures are verified.
///
/// Implementations are usually zero-sized marker types. Verification is an associated function so a
/// light client can check a [`CommitCertificate`](crate::CommitCertificate) or a piece of
/// [`Evidence`](crate::Evidence) without building a consensus instance.
pub trait Context: Clone + Debug + Eq + Hash {
    /// The id of a proposed value.
    type ValueId: ValueId;
    /// A validator's public key; it is also the validator's address in votes and proposals.
    type PublicKey: Clone + Debug + Eq + Ord + Hash;
    /// A signature over canonical bytes (see [`crate::encoding`]).
    type Signature: Clone + Debug + Eq + Hash;

    /// Whether `signature` is a valid signature of `message` by `public_key`.
    fn verify(public_key: &Self::PublicKey, message: &[u8], signature: &Self::Signature) -> bool;
}

/// Signs on behalf of this node. Holds (or reaches) the private key; the core only sees this trait.
pub trait Signer<C: Context> {
    /// The public key whose signatures this signer produces.
    fn public_key(&self) -> &C::PublicKey;
    /// Signs canonical bytes.
    fn sign(&self, message: &[u8]) -> C::Signature;
}
