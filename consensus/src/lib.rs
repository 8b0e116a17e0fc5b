//! The Tendermint consensus core of Cairn: a pure, sans-IO, deterministic state machine.
//!
//! # What this crate owns
//!
//! The algorithm of "The latest gossip on BFT consensus" (Buchman, Kwon, Milosevic, 2018),
//! Algorithm 1, for one node, one height at a time: rounds with propose, prevote and precommit steps,
//! locks and valid values, proof-of-lock rounds, voting-power thresholds, growing timeouts, round
//! skipping; plus what a node needs around it: weighted proposer selection, a vote keeper that
//! detects equivocation, commit certificates a light client can verify, canonical signed bytes, and
//! the write-ahead-log contract that keeps a restarted node from signing twice.
//!
//! # What it does not own
//!
//! No networking, no clock, no disk, no randomness, no keys, no async. The node drives the core: it
//! feeds [`Input`]s (a height to start, messages received, values and verdicts from the application,
//! timeouts that elapsed) and carries out [`Output`]s (persist then broadcast a signed message,
//! schedule a timeout, ask the application for a value or a verdict, commit a decision, report
//! evidence). Signing goes through the [`Signer`] trait and verification through [`Context`], so
//! the core never touches a key. Values are known only by their [`ValueId`].
//!
//! ```text
//!             Input                         Output
//!   node ─────────────────▶ Consensus ─────────────────▶ node
//!   (gossip, timers,         apply()       (WAL + gossip, timers,
//!    application)                           application, evidence pool)
//! ```
//!
//! # Main types
//!
//! - [`Consensus`]: the state machine; [`Consensus::apply`] is its only entry point.
//! - [`Input`], [`Output`]: what goes in and what comes out.
//! - [`Proposal`], [`Vote`], [`SignedMessage`]: the messages; [`encoding`] their signed bytes.
//! - [`ValidatorSet`]: validators, thresholds and proposer selection.
//! - [`VoteKeeper`]: votes of a height tallied by power, duplicates ignored, equivocation detected.
//! - [`CommitCertificate`], [`Evidence`]: proofs anyone holding the validator set can verify.
//! - [`wal`]: the write-ahead-log contract and restart restoration.
//!
//! # The paper's pseudocode in this code
//!
//! Line numbers are those of Algorithm 1 in arXiv:1807.04938v3.
//!
//! | Lines | Rule | Where |
//! |---|---|---|
//! | L1-L9 | state: `h_p`, `round_p`, `step_p`, `decision_p`, locked and valid value/round | `HeightState` in [`state_machine`] |
//! | L10 | upon start: `StartRound(0)` | `Consensus::start_height` |
//! | L11-L21 | `StartRound`: propose `validValue` or `getValue()`, else schedule `timeoutPropose` | `HeightState::start_round` ([`Output::RequestValue`], [`Input::ProposeValue`]) |
//! | L22-L27 | proposal with `vr = -1`: prevote `id(v)` if valid and not locked on another value | `step_current_round`, arm `// L22-L27` |
//! | L28-L33 | proposal with `vr ≥ 0` and a polka in `vr`: prevote `id(v)` if valid and `lockedRound ≤ vr` or locked on `v` | `step_current_round`, arm `// L28-L33` |
//! | L34-L35 | any 2f+1 prevotes: schedule `timeoutPrevote` | `step_current_round` |
//! | L36-L43 | proposal and 2f+1 prevotes for `id(v)`: lock, precommit, update valid value | `step_current_round` |
//! | L44-L46 | 2f+1 nil prevotes: precommit nil | `step_current_round` |
//! | L47-L48 | any 2f+1 precommits: schedule `timeoutPrecommit` | `check_precommit_timeout` |
//! | L49-L54 | proposal and 2f+1 precommits for `id(v)` in any round: decide | `try_decide` ([`Output::Decide`]) |
//! | L55-L56 | f+1 messages from a higher round: skip to it | `run_rules`, [`VoteKeeper::skip_target`] |
//! | L57-L60 | `OnTimeoutPropose`: prevote nil | `on_timeout` |
//! | L61-L64 | `OnTimeoutPrevote`: precommit nil | `on_timeout` |
//! | L65-L67 | `OnTimeoutPrecommit`: next round | `on_timeout` |
//!
//! "2f+1" means more than 2/3 of the voting power and "f+1" more than 1/3
//! ([`ValidatorSet::is_quorum`], [`ValidatorSet::is_one_third_plus`]).
//!
//! # Deviations from the paper, and why
//!
//! - `valid(v)` is asynchronous: a proposal's value is sent out in [`Output::ValidateValue`] and the
//!   rules that need `valid(v)` wait for [`Input::ValueValidity`]. `getValue()` likewise becomes
//!   [`Output::RequestValue`] / [`Input::ProposeValue`].
//! - The proposer also schedules `timeoutPropose` (L21), so a slow application cannot stall a round.
//! - L52-L54 (moving to the next height) are the node's: after [`Output::Decide`] it commits, then
//!   feeds [`Input::StartHeight`] with the next validator set.
//! - L55 skips to the highest round `R` such that validators with more than 1/3 of the power have
//!   sent messages for `R` or above. This is never below the paper's target and never above the
//!   round of some correct validator; it also works for rounds too far ahead to store votes for.
//! - The paper counts messages, so a validator that equivocates counts towards "2f+1 for
//!   `id(v)`" for each value it voted for. The [`VoteKeeper`] counts a validator's first vote in a
//!   slot and, beyond it, conflicting votes for values proposed at the height (once per validator and
//!   value): otherwise an equivocator could show a polka to some correct validators and hide it for
//!   ever from the others, and the height would never end. Limiting this to proposed values keeps
//!   memory bounded. Thresholds already allow for byzantine power voting for every value, so safety
//!   is unchanged.
//! - A node that is behind may decide from a verified [`CommitCertificate`] received from a peer
//!   ([`Input::CommitCertificate`]), as CometBFT's block sync does.
//! - Messages are stored only for rounds up to [`Config::max_future_rounds`] above the current one and
//!   buffered for at most [`Config::max_future_heights`] heights ahead, within a bounded buffer; the
//!   node's gossip re-sends what is dropped.
//!
//! # Crash safety
//!
//! Every signed message leaves as [`Output::PersistAndBroadcast`]: the node writes it to its
//! write-ahead log before sending it. After a restart the node passes the log's entries for the height
//! in [`Input::StartHeight`]; the core restores round, step and lock from them and never signs a
//! second, different message for a (height, round, step) it already signed. See [`wal`].

//!
//! # Testing
//!
//! With the `test-utils` feature the crate also exports `testing` (a keyless signing context and
//! message builders) and `Mutation`, deliberately broken rules the simulator in this crate's tests
//! uses to show that each of its checks can fail.

#![forbid(unsafe_code)]

mod buffer;
pub mod certificate;
pub mod config;
pub mod context;
pub mod encoding;
pub mod error;
pub mod evidence;
pub mod io;
pub mod state_machine;
#[cfg(any(test, feature = "test-utils"))]
pub mod testing;
pub mod types;
pub mod validators;
pub mod votes;
pub mod wal;

pub use buffer::FutureBuffer;
pub use certificate::CommitCertificate;
pub use config::{Config, TimeoutSchedule, Timeouts};
pub use context::{Context, Signer, ValueId};
pub use error::ConsensusError;
pub use evidence::Evidence;
pub use io::{Input, Output, Timeout, TimeoutKind};
pub use state_machine::Consensus;
#[cfg(feature = "test-utils")]
pub use state_machine::Mutation;
pub use types::{
    Height, Proposal, Round, SignedMessage, SignedProposal, SignedVote, Step, Vote, VoteType,
};
pub use validators::{ProposerSchedule, Validator, ValidatorSet, MAX_TOTAL_VOTING_POWER};
pub use votes::{VoteKeeper, VoteOutcome};
