//! The messages of the protocol: heights, rounds, steps, proposals and votes, signed or not.

use std::fmt;

use crate::context::Context;

/// A block height. Each height runs one instance of the algorithm.
pub type Height = u64;

/// A round within a height. The paper's `-1` ("no round") is `Option<Round>::None`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Round(pub u32);

impl Round {
    /// The first round of every height.
    pub const ZERO: Round = Round(0);

    /// The round after this one, saturating at the largest round.
    pub fn next(self) -> Round {
        Round(self.0.saturating_add(1))
    }
}

impl fmt::Display for Round {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The step of a round. It names both where the state machine is and the slot a signed message
/// occupies: a validator signs at most one message per (height, round, step).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// Waiting for (or sending) the round's proposal.
    Propose,
    /// Prevoting on the proposal.
    Prevote,
    /// Precommitting.
    Precommit,
}

/// The two kinds of vote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VoteType {
    /// First-phase vote.
    Prevote,
    /// Second-phase vote; more than 2/3 of them for a value decide it.
    Precommit,
}

impl VoteType {
    /// The step at which a vote of this type is signed.
    pub fn step(self) -> Step {
        match self {
            VoteType::Prevote => Step::Prevote,
            VoteType::Precommit => Step::Precommit,
        }
    }
}

/// `⟨PROPOSAL, h, r, v, vr⟩`: the proposer of (height, round) proposes `value`; `pol_round` is the
/// round of the proof of lock (the paper's `validRound`), `None` for a fresh value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Proposal<C: Context> {
    /// Height.
    pub height: Height,
    /// Round.
    pub round: Round,
    /// The proposed value id.
    pub value: C::ValueId,
    /// Proof-of-lock round: a round below `round` in which the value had a polka, if any.
    pub pol_round: Option<Round>,
    /// The proposer's key.
    pub proposer: C::PublicKey,
}

/// `⟨PREVOTE, h, r, id(v)⟩` or `⟨PRECOMMIT, h, r, id(v)⟩`; `value: None` is a nil vote.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Vote<C: Context> {
    /// Height.
    pub height: Height,
    /// Round.
    pub round: Round,
    /// Prevote or precommit.
    pub vote_type: VoteType,
    /// The value voted for, `None` for nil.
    pub value: Option<C::ValueId>,
    /// The voter's key.
    pub validator: C::PublicKey,
}

/// A proposal with its proposer's signature over [`crate::encoding::proposal_sign_bytes`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SignedProposal<C: Context> {
    /// The proposal.
    pub proposal: Proposal<C>,
    /// The proposer's signature.
    pub signature: C::Signature,
}

/// A vote with its voter's signature over [`crate::encoding::vote_sign_bytes`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SignedVote<C: Context> {
    /// The vote.
    pub vote: Vote<C>,
    /// The voter's signature.
    pub signature: C::Signature,
}

/// Anything a validator signs. This is also what the write-ahead log records.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SignedMessage<C: Context> {
    /// A signed proposal.
    Proposal(SignedProposal<C>),
    /// A signed prevote or precommit.
    Vote(SignedVote<C>),
}

impl<C: Context> SignedMessage<C> {
    /// The height the message belongs to.
    pub fn height(&self) -> Height {
        match self {
            SignedMessage::Proposal(p) => p.proposal.height,
            SignedMessage::Vote(v) => v.vote.height,
        }
    }

    /// The round the message belongs to.
    pub fn round(&self) -> Round {
        match self {
            SignedMessage::Proposal(p) => p.proposal.round,
            SignedMessage::Vote(v) => v.vote.round,
        }
    }

    /// The slot the message occupies within its round.
    pub fn step(&self) -> Step {
        match self {
            SignedMessage::Proposal(_) => Step::Propose,
            SignedMessage::Vote(v) => v.vote.vote_type.step(),
        }
    }

    /// The key that signed the message.
    pub fn signer(&self) -> &C::PublicKey {
        match self {
            SignedMessage::Proposal(p) => &p.proposal.proposer,
            SignedMessage::Vote(v) => &v.vote.validator,
        }
    }
}
