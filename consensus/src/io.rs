//! What goes into the core and what comes out of it.

use std::time::Duration;

use crate::{
    certificate::CommitCertificate,
    context::Context,
    evidence::Evidence,
    types::{Height, Round, SignedMessage, SignedProposal, SignedVote},
    validators::ValidatorSet,
};

/// Which of the paper's three timeouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimeoutKind {
    /// `OnTimeoutPropose` (L57).
    Propose,
    /// `OnTimeoutPrevote` (L61).
    Prevote,
    /// `OnTimeoutPrecommit` (L65).
    Precommit,
}

/// A timeout, as scheduled and as fed back when it elapses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timeout {
    /// Height it was scheduled at.
    pub height: Height,
    /// Round it was scheduled at.
    pub round: Round,
    /// Which timeout.
    pub kind: TimeoutKind,
}

/// An input to [`crate::Consensus::apply`].
#[derive(Clone, Debug)]
pub enum Input<C: Context> {
    /// Start `height` with its validator set. `wal` holds what the write-ahead log recorded for this
    /// height before a restart (empty on a fresh start); the core restores its round, step and lock
    /// from it and never signs anything that conflicts with it.
    StartHeight {
        /// The height to start; above the current one.
        height: Height,
        /// Its validators, with their proposer priorities.
        validators: ValidatorSet<C>,
        /// This node's own signed messages for `height`, as recorded in the write-ahead log.
        wal: Vec<SignedMessage<C>>,
    },
    /// A proposal from a peer (signature not yet checked: the core checks it).
    Proposal(SignedProposal<C>),
    /// A vote from a peer (signature not yet checked: the core checks it).
    Vote(SignedVote<C>),
    /// The application's value for a round in which this node proposes, answering
    /// [`Output::RequestValue`].
    ProposeValue {
        /// Height asked for.
        height: Height,
        /// Round asked for.
        round: Round,
        /// The value id to propose.
        value: C::ValueId,
    },
    /// The application's verdict on a proposed value, answering [`Output::ValidateValue`].
    ValueValidity {
        /// Height of the proposal.
        height: Height,
        /// The value id judged.
        value: C::ValueId,
        /// Whether the value is valid.
        valid: bool,
    },
    /// A timeout scheduled by [`Output::ScheduleTimeout`] elapsed.
    TimeoutElapsed(Timeout),
    /// A commit certificate for the current height, obtained from a peer that already decided it
    /// (catching up). The core verifies it before deciding.
    CommitCertificate(CommitCertificate<C>),
}

/// An effect for the node to carry out, in the order given.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use = "the node must carry out every output of the core"]
pub enum Output<C: Context> {
    /// A message this node just signed. Append it to the write-ahead log and make it durable, then
    /// broadcast it. Never broadcast before the log write completes: that ordering is what lets a
    /// restarted node avoid signing a conflicting message.
    PersistAndBroadcast(SignedMessage<C>),
    /// A message already in the write-ahead log, to broadcast again (after a restart).
    Broadcast(SignedMessage<C>),
    /// Feed back [`Input::TimeoutElapsed`] after `duration`.
    ScheduleTimeout {
        /// The timeout to feed back.
        timeout: Timeout,
        /// After how long.
        duration: Duration,
    },
    /// This node proposes in (`height`, `round`): answer with [`Input::ProposeValue`].
    RequestValue {
        /// Height.
        height: Height,
        /// Round.
        round: Round,
    },
    /// Check a proposed value and answer with [`Input::ValueValidity`].
    ValidateValue {
        /// Height of the proposal.
        height: Height,
        /// Round of the proposal.
        round: Round,
        /// The value id to check.
        value: C::ValueId,
    },
    /// `height` is decided. Commit the value, keep the certificate (peers that fall behind catch up
    /// with it), truncate the write-ahead log, then feed [`Input::StartHeight`] for the next height
    /// with its validator set ([`ValidatorSet::next_height`] when the set does not change, so that
    /// proposer priorities advance).
    Decide(CommitCertificate<C>),
    /// A validator equivocated; hand the evidence to the application.
    Evidence(Evidence<C>),
}
