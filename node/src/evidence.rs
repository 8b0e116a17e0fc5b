//! Equivocation evidence on its way into blocks.
//!
//! The consensus core reports a validator that signed two conflicting messages
//! (`Output::Evidence`); peers gossip what they saw. Valid evidence waits in the [`EvidencePool`]
//! until a proposer puts it in a block; the block commits to it through its header's
//! `evidence_root`, and the ledger refuses evidence committed once already. What evidence means (a
//! penalty) is for a later protocol version: today a block records it, so anyone can prove the
//! misbehaviour from the chain.

use cairn_consensus::{Evidence, ValidatorSet};
use cairn_ledger::{
    block::{MAX_BLOCK_EVIDENCE, MAX_EVIDENCE_BYTES},
    Hash,
};

use crate::{
    context::CairnContext,
    error::NodeError,
    wire::{self, WireEvidence},
};

/// Most pieces of evidence waiting for a block.
const MAX_POOLED: usize = 256;

/// Checks one piece of evidence as a block carries it: canonical bytes of a [`WireEvidence`] whose
/// two messages conflict, are signed by a validator of the chain, and belong to a height below
/// `block_height`.
pub fn check(
    bytes: &[u8],
    chain_id: &str,
    validators: &ValidatorSet<CairnContext>,
    block_height: u64,
) -> Result<Evidence<CairnContext>, NodeError> {
    let invalid = |reason: String| NodeError::Decode {
        what: "evidence",
        reason,
    };
    if bytes.len() > MAX_EVIDENCE_BYTES {
        return Err(invalid(format!(
            "{} bytes, at most {MAX_EVIDENCE_BYTES}",
            bytes.len()
        )));
    }
    let wire_evidence: WireEvidence = wire::decode("evidence", bytes)?;
    let evidence = Evidence::<CairnContext>::try_from(&wire_evidence)?;
    // One encoding per equivocation, so the ledger's repeat check cannot be dodged by swapping
    // the two messages.
    if canonical_bytes(&evidence) != bytes {
        return Err(invalid(
            "the two messages are not in canonical order".into(),
        ));
    }
    evidence
        .verify(chain_id, validators)
        .map_err(|error| invalid(error.to_string()))?;
    if evidence.height() >= block_height {
        return Err(invalid(format!(
            "evidence of height {} in a block of height {block_height}",
            evidence.height()
        )));
    }
    Ok(evidence)
}

/// The one encoding of a piece of evidence: its two messages in the order of their own encodings,
/// so that nodes that saw them in different orders propose the same bytes.
pub fn canonical_bytes(evidence: &Evidence<CairnContext>) -> Vec<u8> {
    let wire_evidence = match WireEvidence::from(evidence) {
        WireEvidence::ConflictingVotes { first, second } => {
            let (first, second) = if wire::encode(&first) <= wire::encode(&second) {
                (first, second)
            } else {
                (second, first)
            };
            WireEvidence::ConflictingVotes { first, second }
        }
        WireEvidence::ConflictingProposals { first, second } => {
            let (first, second) = if wire::encode(&first) <= wire::encode(&second) {
                (first, second)
            } else {
                (second, first)
            };
            WireEvidence::ConflictingProposals { first, second }
        }
    };
    wire::encode(&wire_evidence)
}

/// Evidence seen and not yet committed, oldest first.
#[derive(Debug, Default)]
pub struct EvidencePool {
    /// Hash of the bytes, height of the equivocation, the bytes.
    pending: Vec<(Hash, u64, Vec<u8>)>,
}

impl EvidencePool {
    /// Adds the canonical bytes of valid evidence of an equivocation at `height`; duplicates and
    /// overflow are dropped.
    pub fn add(&mut self, height: u64, bytes: Vec<u8>) -> bool {
        let hash = Hash::digest(&bytes);
        if self.pending.len() >= MAX_POOLED || self.pending.iter().any(|(h, _, _)| *h == hash) {
            return false;
        }
        self.pending.push((hash, height, bytes));
        true
    }

    /// Up to a block's worth of evidence for a proposal at `block_height`: only equivocations of
    /// earlier heights (what validators accept, see [`check`]; one of the height being decided
    /// waits for the next block), skipping what `committed` says is in the chain already.
    pub fn for_block(&self, block_height: u64, committed: impl Fn(&Hash) -> bool) -> Vec<Vec<u8>> {
        self.pending
            .iter()
            .filter(|(hash, height, _)| *height < block_height && !committed(hash))
            .take(MAX_BLOCK_EVIDENCE)
            .map(|(_, _, bytes)| bytes.clone())
            .collect()
    }

    /// Drops evidence a committed block carried.
    pub fn remove_committed(&mut self, included: &[Vec<u8>]) {
        let hashes: Vec<Hash> = included.iter().map(|bytes| Hash::digest(bytes)).collect();
        self.pending.retain(|(hash, _, _)| !hashes.contains(hash));
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}
