//! The bytes nodes exchange: gossip messages, block-sync requests and responses, commit certificates
//! as stored, and write-ahead-log payloads.
//!
//! Everything is canonical borsh, decoded with the ledger's strict decoder (no trailing bytes, no
//! non-canonical encodings), so one message has one encoding and gossip deduplicates by content.
//! The consensus core's types are generic; these mirrors fix them to Cairn's and keep the core free
//! of any encoding but the signed bytes.

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_consensus::{
    CommitCertificate, Evidence, Proposal, Round, SignedMessage, SignedProposal, SignedVote, Vote,
    VoteType,
};
use cairn_ledger::{encoding, Block, PublicKey, Signature};

use crate::{context::CairnContext, error::NodeError};

/// Largest gossip message: a full block with room to spare.
pub const MAX_GOSSIP_BYTES: usize = cairn_ledger::block::MAX_BLOCK_BYTES + 64 * 1024;

/// Most transactions in one gossiped batch.
pub const MAX_TX_BATCH: usize = 4096;

type Ctx = CairnContext;

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct WireProposal {
    pub height: u64,
    pub round: u32,
    pub value: [u8; 32],
    pub pol_round: Option<u32>,
    pub proposer: PublicKey,
    pub signature: Signature,
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct WireVote {
    pub height: u64,
    pub round: u32,
    /// 0 = prevote, 1 = precommit.
    pub vote_type: u8,
    pub value: Option<[u8; 32]>,
    pub validator: PublicKey,
    pub signature: Signature,
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum WireEvidence {
    ConflictingVotes {
        first: WireVote,
        second: WireVote,
    },
    ConflictingProposals {
        first: WireProposal,
        second: WireProposal,
    },
}

/// A message on the consensus gossip topic.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum ConsensusGossip {
    /// A proposal with the block it proposes (the block's hash is the proposal's value).
    Proposal {
        proposal: WireProposal,
        block: Block,
    },
    Vote(WireVote),
    Evidence(WireEvidence),
}

/// What is published on a gossip topic: the payload and the time the sender published it. The
/// time makes a re-broadcast of the same message a new gossip message (gossip deduplicates by
/// content), which is how a node re-sends votes a peer may have missed.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct GossipEnvelope<T> {
    pub sent_at_ms: u64,
    pub payload: T,
}

/// Transactions on the transaction gossip topic, each as its canonical bytes (checked by the
/// mempool's admission, not here).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct TxBatch {
    pub transactions: Vec<Vec<u8>>,
}

/// A commit certificate as stored and sent: every precommit shares height, round and value.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct WireCertificate {
    pub height: u64,
    pub round: u32,
    pub value: [u8; 32],
    pub precommits: Vec<(PublicKey, Signature)>,
}

/// A block-sync request.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum SyncRequest {
    /// The peer's genesis hash and latest committed height.
    Status,
    /// Committed blocks `from ..= from + count - 1`, each with its commit certificate.
    Blocks { from: u64, count: u32 },
}

/// A block-sync response.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum SyncResponse {
    Status {
        genesis_hash: cairn_ledger::Hash,
        latest_height: u64,
    },
    /// As many of the requested blocks as the peer has and fit the response limit, in order.
    Blocks(Vec<(Block, WireCertificate)>),
    /// The peer could not answer.
    Error(String),
}

/// Encodes any wire value.
pub fn encode<T: BorshSerialize>(value: &T) -> Vec<u8> {
    encoding::encode(value)
}

/// Decodes untrusted bytes strictly.
pub fn decode<T: BorshDeserialize + BorshSerialize>(
    what: &'static str,
    bytes: &[u8],
) -> Result<T, NodeError> {
    encoding::decode(what, bytes).map_err(|error| NodeError::Decode {
        what,
        reason: error.to_string(),
    })
}

fn round(value: u32) -> Round {
    Round(value)
}

impl From<&SignedProposal<Ctx>> for WireProposal {
    fn from(signed: &SignedProposal<Ctx>) -> Self {
        let p = &signed.proposal;
        WireProposal {
            height: p.height,
            round: p.round.0,
            value: p.value,
            pol_round: p.pol_round.map(|r| r.0),
            proposer: p.proposer,
            signature: signed.signature,
        }
    }
}

impl From<&WireProposal> for SignedProposal<Ctx> {
    fn from(wire: &WireProposal) -> Self {
        SignedProposal {
            proposal: Proposal {
                height: wire.height,
                round: round(wire.round),
                value: wire.value,
                pol_round: wire.pol_round.map(round),
                proposer: wire.proposer,
            },
            signature: wire.signature,
        }
    }
}

impl From<&SignedVote<Ctx>> for WireVote {
    fn from(signed: &SignedVote<Ctx>) -> Self {
        let v = &signed.vote;
        WireVote {
            height: v.height,
            round: v.round.0,
            vote_type: match v.vote_type {
                VoteType::Prevote => 0,
                VoteType::Precommit => 1,
            },
            value: v.value,
            validator: v.validator,
            signature: signed.signature,
        }
    }
}

impl TryFrom<&WireVote> for SignedVote<Ctx> {
    type Error = NodeError;

    fn try_from(wire: &WireVote) -> Result<Self, NodeError> {
        let vote_type = match wire.vote_type {
            0 => VoteType::Prevote,
            1 => VoteType::Precommit,
            other => {
                return Err(NodeError::Decode {
                    what: "vote",
                    reason: format!("unknown vote type {other}"),
                })
            }
        };
        Ok(SignedVote {
            vote: Vote {
                height: wire.height,
                round: round(wire.round),
                vote_type,
                value: wire.value,
                validator: wire.validator,
            },
            signature: wire.signature,
        })
    }
}

impl From<&Evidence<Ctx>> for WireEvidence {
    fn from(evidence: &Evidence<Ctx>) -> Self {
        match evidence {
            Evidence::ConflictingVotes { first, second } => WireEvidence::ConflictingVotes {
                first: first.into(),
                second: second.into(),
            },
            Evidence::ConflictingProposals { first, second } => {
                WireEvidence::ConflictingProposals {
                    first: first.into(),
                    second: second.into(),
                }
            }
        }
    }
}

impl TryFrom<&WireEvidence> for Evidence<Ctx> {
    type Error = NodeError;

    fn try_from(wire: &WireEvidence) -> Result<Self, NodeError> {
        Ok(match wire {
            WireEvidence::ConflictingVotes { first, second } => Evidence::ConflictingVotes {
                first: first.try_into()?,
                second: second.try_into()?,
            },
            WireEvidence::ConflictingProposals { first, second } => {
                Evidence::ConflictingProposals {
                    first: first.into(),
                    second: second.into(),
                }
            }
        })
    }
}

impl From<&CommitCertificate<Ctx>> for WireCertificate {
    fn from(certificate: &CommitCertificate<Ctx>) -> Self {
        WireCertificate {
            height: certificate.height,
            round: certificate.round.0,
            value: certificate.value,
            precommits: certificate
                .precommits
                .iter()
                .map(|p| (p.vote.validator, p.signature))
                .collect(),
        }
    }
}

impl From<&WireCertificate> for CommitCertificate<Ctx> {
    fn from(wire: &WireCertificate) -> Self {
        CommitCertificate {
            height: wire.height,
            round: round(wire.round),
            value: wire.value,
            precommits: wire
                .precommits
                .iter()
                .map(|(validator, signature)| SignedVote {
                    vote: Vote {
                        height: wire.height,
                        round: round(wire.round),
                        vote_type: VoteType::Precommit,
                        value: Some(wire.value),
                        validator: *validator,
                    },
                    signature: *signature,
                })
                .collect(),
        }
    }
}

/// A signed message as the write-ahead log records it.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum WalMessage {
    Proposal(WireProposal),
    Vote(WireVote),
}

impl From<&SignedMessage<Ctx>> for WalMessage {
    fn from(message: &SignedMessage<Ctx>) -> Self {
        match message {
            SignedMessage::Proposal(p) => WalMessage::Proposal(p.into()),
            SignedMessage::Vote(v) => WalMessage::Vote(v.into()),
        }
    }
}

impl TryFrom<&WalMessage> for SignedMessage<Ctx> {
    type Error = NodeError;

    fn try_from(message: &WalMessage) -> Result<Self, NodeError> {
        Ok(match message {
            WalMessage::Proposal(p) => SignedMessage::Proposal(p.into()),
            WalMessage::Vote(v) => SignedMessage::Vote(v.try_into()?),
        })
    }
}
