//! Canonical signed bytes of proposals and votes.
//!
//! Every signature in the protocol is over exactly these bytes, so they must never change meaning
//! between versions. Layout (all integers big-endian, fixed width):
//!
//! ```text
//! domain tag     u8 length, then the bytes of DOMAIN_TAG
//! chain id       u16 length, then the UTF-8 bytes of the chain id
//! message kind   u8: 1 proposal, 2 prevote, 3 precommit
//! height         u64
//! round          u32
//! proposal only: pol round   u8 flag (0 none, 1 some) then, if some, u32
//! vote only:     value flag  u8 (0 nil, 1 some)
//! value id       ValueId::encode, last so it needs no length prefix (absent for a nil vote)
//! ```
//!
//! The domain tag keeps these bytes from ever being valid as a transaction or any other signed
//! object; the chain id keeps a signature on one chain from being replayed on another. The signer's
//! key is not part of the bytes: the signature itself binds it.

use crate::{
    context::{Context, ValueId},
    error::ConsensusError,
    types::{Proposal, Vote, VoteType},
};

/// The domain separation tag that opens every signed consensus message.
pub const DOMAIN_TAG: &[u8] = b"cairn/consensus/v1";

/// The longest chain id the encoding accepts (its length is a `u16`).
pub const MAX_CHAIN_ID_LEN: usize = u16::MAX as usize;

const KIND_PROPOSAL: u8 = 1;
const KIND_PREVOTE: u8 = 2;
const KIND_PRECOMMIT: u8 = 3;

/// Checks that a chain id fits the encoding.
pub fn check_chain_id(chain_id: &str) -> Result<(), ConsensusError> {
    if chain_id.len() > MAX_CHAIN_ID_LEN {
        return Err(ConsensusError::ChainIdTooLong {
            len: chain_id.len(),
            max: MAX_CHAIN_ID_LEN,
        });
    }
    Ok(())
}

fn header(out: &mut Vec<u8>, chain_id: &str, kind: u8, height: u64, round: u32) {
    // DOMAIN_TAG is a short constant; the chain id length is checked when the config is built.
    // Truncating casts cannot happen for either, but are clamped rather than wrapped to be sure.
    let tag_len = u8::try_from(DOMAIN_TAG.len()).unwrap_or(u8::MAX);
    out.push(tag_len);
    out.extend_from_slice(&DOMAIN_TAG[..usize::from(tag_len)]);
    let chain_len = u16::try_from(chain_id.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&chain_len.to_be_bytes());
    out.extend_from_slice(&chain_id.as_bytes()[..usize::from(chain_len)]);
    out.push(kind);
    out.extend_from_slice(&height.to_be_bytes());
    out.extend_from_slice(&round.to_be_bytes());
}

/// Writes the signed bytes of a proposal into `out` (cleared first).
pub fn write_proposal_sign_bytes<C: Context>(
    out: &mut Vec<u8>,
    chain_id: &str,
    proposal: &Proposal<C>,
) {
    out.clear();
    header(
        out,
        chain_id,
        KIND_PROPOSAL,
        proposal.height,
        proposal.round.0,
    );
    match proposal.pol_round {
        None => out.push(0),
        Some(r) => {
            out.push(1);
            out.extend_from_slice(&r.0.to_be_bytes());
        }
    }
    proposal.value.encode(out);
}

/// Writes the signed bytes of a vote into `out` (cleared first).
pub fn write_vote_sign_bytes<C: Context>(out: &mut Vec<u8>, chain_id: &str, vote: &Vote<C>) {
    out.clear();
    let kind = match vote.vote_type {
        VoteType::Prevote => KIND_PREVOTE,
        VoteType::Precommit => KIND_PRECOMMIT,
    };
    header(out, chain_id, kind, vote.height, vote.round.0);
    match &vote.value {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            v.encode(out);
        }
    }
}

/// The signed bytes of a proposal.
pub fn proposal_sign_bytes<C: Context>(chain_id: &str, proposal: &Proposal<C>) -> Vec<u8> {
    let mut out = Vec::with_capacity(96);
    write_proposal_sign_bytes(&mut out, chain_id, proposal);
    out
}

/// The signed bytes of a vote.
pub fn vote_sign_bytes<C: Context>(chain_id: &str, vote: &Vote<C>) -> Vec<u8> {
    let mut out = Vec::with_capacity(96);
    write_vote_sign_bytes(&mut out, chain_id, vote);
    out
}
