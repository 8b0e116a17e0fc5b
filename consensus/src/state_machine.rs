//! The Tendermint state machine of one node: Algorithm 1 of the paper, one height at a time.
//!
//! [`Consensus::apply`] takes one [`Input`] and returns the [`Output`]s it causes. After every input
//! the rules of the current height are re-evaluated until none fires, so a rule enabled by the effect
//! of another (a precommit that completes a commit quorum, say) fires within the same call.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::{
    buffer::FutureBuffer,
    certificate::CommitCertificate,
    config::Config,
    context::{Context, Signer},
    encoding::{write_proposal_sign_bytes, write_vote_sign_bytes},
    error::ConsensusError,
    evidence::Evidence,
    io::{Input, Output, Timeout, TimeoutKind},
    types::{
        Height, Proposal, Round, SignedMessage, SignedProposal, SignedVote, Step, Vote, VoteType,
    },
    validators::{ProposerSchedule, ValidatorSet},
    votes::{VoteKeeper, VoteOutcome},
    wal::{self, Restored, SignedSlots},
};

/// Deliberately broken rules, to show that the simulator's safety checks can fail.
#[cfg(feature = "test-utils")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutation {
    /// Prevote for any valid proposal, ignoring `lockedValue`/`lockedRound` (breaks L23 and L29).
    IgnoreLock,
    /// Ignore the write-ahead log on restart (breaks crash safety).
    ForgetWal,
    /// Take every proposed value as valid without asking the application (breaks `valid(v)`).
    AcceptInvalidValues,
    /// Never report equivocation.
    HideEvidence,
}

/// The application's verdict on a value, as far as it is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Validity {
    Pending,
    Valid,
    Invalid,
}

/// What the core needs besides the state of the height: settings, the signer and a scratch buffer
/// for canonical bytes (so that checking a signature allocates nothing).
struct Env<C: Context, S: Signer<C>> {
    config: Config,
    signer: S,
    scratch: Vec<u8>,
    #[cfg(feature = "test-utils")]
    mutation: Option<Mutation>,
    _context: std::marker::PhantomData<C>,
}

impl<C: Context, S: Signer<C>> Env<C, S> {
    /// Whether the lock is ignored on purpose (tests of the simulator's checks only).
    fn ignores_lock(&self) -> bool {
        #[cfg(feature = "test-utils")]
        return self.mutation == Some(Mutation::IgnoreLock);
        #[cfg(not(feature = "test-utils"))]
        false
    }

    /// Whether the write-ahead log is ignored on purpose (tests of the simulator's checks only).
    fn forgets_wal(&self) -> bool {
        #[cfg(feature = "test-utils")]
        return self.mutation == Some(Mutation::ForgetWal);
        #[cfg(not(feature = "test-utils"))]
        false
    }

    /// Whether values are taken as valid unasked (tests of the simulator's checks only).
    fn accepts_invalid_values(&self) -> bool {
        #[cfg(feature = "test-utils")]
        return self.mutation == Some(Mutation::AcceptInvalidValues);
        #[cfg(not(feature = "test-utils"))]
        false
    }

    /// Whether evidence is withheld (tests of the simulator's checks only).
    fn hides_evidence(&self) -> bool {
        #[cfg(feature = "test-utils")]
        return self.mutation == Some(Mutation::HideEvidence);
        #[cfg(not(feature = "test-utils"))]
        false
    }

    fn verify_vote(&mut self, signed: &SignedVote<C>) -> Result<(), ConsensusError> {
        let vote = &signed.vote;
        write_vote_sign_bytes(&mut self.scratch, self.config.chain_id(), vote);
        if C::verify(&vote.validator, &self.scratch, &signed.signature) {
            return Ok(());
        }
        Err(ConsensusError::InvalidSignature {
            kind: match vote.vote_type {
                VoteType::Prevote => "prevote",
                VoteType::Precommit => "precommit",
            },
            height: vote.height,
            round: vote.round,
        })
    }

    fn verify_proposal(&mut self, signed: &SignedProposal<C>) -> Result<(), ConsensusError> {
        let proposal = &signed.proposal;
        write_proposal_sign_bytes(&mut self.scratch, self.config.chain_id(), proposal);
        if C::verify(&proposal.proposer, &self.scratch, &signed.signature) {
            return Ok(());
        }
        Err(ConsensusError::InvalidSignature {
            kind: "proposal",
            height: proposal.height,
            round: proposal.round,
        })
    }

    fn verify_message(&mut self, message: &SignedMessage<C>) -> Result<(), ConsensusError> {
        match message {
            SignedMessage::Proposal(p) => self.verify_proposal(p),
            SignedMessage::Vote(v) => self.verify_vote(v),
        }
    }

    fn sign_vote(&mut self, vote: Vote<C>) -> SignedVote<C> {
        write_vote_sign_bytes(&mut self.scratch, self.config.chain_id(), &vote);
        let signature = self.signer.sign(&self.scratch);
        SignedVote { vote, signature }
    }

    fn sign_proposal(&mut self, proposal: Proposal<C>) -> SignedProposal<C> {
        write_proposal_sign_bytes(&mut self.scratch, self.config.chain_id(), &proposal);
        let signature = self.signer.sign(&self.scratch);
        SignedProposal {
            proposal,
            signature,
        }
    }
}

/// The consensus core of one node. Generic over the deployment's [`Context`] and over the node's
/// [`Signer`]; a node whose key is not in a height's validator set follows that height without
/// signing anything.
pub struct Consensus<C: Context, S: Signer<C>> {
    env: Env<C, S>,
    state: Option<HeightState<C>>,
    future: FutureBuffer<C>,
}

impl<C: Context, S: Signer<C>> std::fmt::Debug for Consensus<C, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consensus")
            .field("config", &self.env.config)
            .field("state", &self.state)
            .field("buffered_future_messages", &self.future.len())
            .finish()
    }
}

/// The state of the height in progress: the paper's `h_p`, `round_p`, `step_p`, locked and valid
/// value and round, and the message log (votes, proposals).
#[derive(Debug)]
struct HeightState<C: Context> {
    height: Height,
    validators: ValidatorSet<C>,
    own_index: Option<usize>,
    schedule: ProposerSchedule,
    round: Round,
    step: Step,
    locked: Option<(Round, C::ValueId)>,
    valid: Option<(Round, C::ValueId)>,
    decided: bool,
    keeper: VoteKeeper<C>,
    /// The first proposal of each round from that round's proposer.
    proposals: BTreeMap<Round, SignedProposal<C>>,
    /// Rounds whose proposer was already reported for equivocation.
    proposal_evidence: BTreeSet<Round>,
    /// The application's verdicts on proposed values.
    validity: HashMap<C::ValueId, Validity>,
    /// What this node signed at this height, one message per (round, step).
    signed: SignedSlots<C>,
    /// Waiting for the application's value for the current round (L18).
    awaiting_value: bool,
    /// L34 fired in the current round.
    prevote_timeout_scheduled: bool,
    /// L36 fired in the current round.
    polka_seen: bool,
    /// L47 fired in the current round.
    precommit_timeout_scheduled: bool,
    /// A validator's highest known round rose above ours since L55 was last checked.
    skip_check_pending: bool,
}

impl<C: Context, S: Signer<C>> Consensus<C, S> {
    /// A core that has not started any height yet.
    pub fn new(config: Config, signer: S) -> Self {
        Consensus {
            env: Env {
                config,
                signer,
                scratch: Vec::with_capacity(128),
                #[cfg(feature = "test-utils")]
                mutation: None,
                _context: std::marker::PhantomData,
            },
            state: None,
            future: FutureBuffer::default(),
        }
    }

    /// Breaks a rule on purpose (tests only).
    #[cfg(feature = "test-utils")]
    pub fn set_mutation(&mut self, mutation: Option<Mutation>) {
        self.env.mutation = mutation;
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.env.config
    }

    /// The height in progress (`h_p`), if started.
    pub fn height(&self) -> Option<Height> {
        self.state.as_ref().map(|s| s.height)
    }

    /// The current round (`round_p`); round 0 before the first height.
    pub fn round(&self) -> Round {
        self.state.as_ref().map_or(Round::ZERO, |s| s.round)
    }

    /// The current step (`step_p`); `Propose` before the first height.
    pub fn step(&self) -> Step {
        self.state.as_ref().map_or(Step::Propose, |s| s.step)
    }

    /// `lockedRound_p` and `lockedValue_p`.
    pub fn locked(&self) -> Option<&(Round, C::ValueId)> {
        self.state.as_ref().and_then(|s| s.locked.as_ref())
    }

    /// `validRound_p` and `validValue_p`.
    pub fn valid(&self) -> Option<&(Round, C::ValueId)> {
        self.state.as_ref().and_then(|s| s.valid.as_ref())
    }

    /// Whether the current height is decided (waiting for the next `StartHeight`).
    pub fn is_decided(&self) -> bool {
        self.state.as_ref().is_some_and(|s| s.decided)
    }

    /// The validator set of the current height.
    pub fn validators(&self) -> Option<&ValidatorSet<C>> {
        self.state.as_ref().map(|s| &s.validators)
    }

    /// Number of messages held for future heights.
    pub fn buffered_future_messages(&self) -> usize {
        self.future.len()
    }

    /// Feeds one input and returns the effects to carry out, in order.
    pub fn apply(&mut self, input: Input<C>) -> Result<Vec<Output<C>>, ConsensusError> {
        let mut out = Vec::new();
        match input {
            Input::StartHeight {
                height,
                validators,
                wal,
            } => self.start_height(height, validators, wal, &mut out)?,
            Input::Proposal(p) => self.on_message(SignedMessage::Proposal(p), &mut out)?,
            Input::Vote(v) => self.on_message(SignedMessage::Vote(v), &mut out)?,
            Input::ProposeValue {
                height,
                round,
                value,
            } => {
                let state = self.state.as_mut().ok_or(ConsensusError::NotStarted)?;
                state.on_propose_value(&mut self.env, height, round, value, &mut out);
            }
            Input::ValueValidity {
                height,
                value,
                valid,
            } => {
                let state = self.state.as_mut().ok_or(ConsensusError::NotStarted)?;
                state.on_value_validity(&mut self.env, height, value, valid, &mut out);
            }
            Input::TimeoutElapsed(timeout) => {
                let state = self.state.as_mut().ok_or(ConsensusError::NotStarted)?;
                state.on_timeout(&mut self.env, timeout, &mut out);
            }
            Input::CommitCertificate(certificate) => {
                let state = self.state.as_mut().ok_or(ConsensusError::NotStarted)?;
                state.on_certificate(&self.env, certificate, &mut out)?;
            }
        }
        Ok(out)
    }

    fn start_height(
        &mut self,
        height: Height,
        validators: ValidatorSet<C>,
        wal: Vec<SignedMessage<C>>,
        out: &mut Vec<Output<C>>,
    ) -> Result<(), ConsensusError> {
        if let Some(current) = &self.state {
            if height <= current.height {
                return Err(ConsensusError::HeightNotIncreasing {
                    requested: height,
                    current: current.height,
                });
            }
        }
        let own_key = self.env.signer.public_key().clone();
        let mut state = HeightState::new(height, validators, &own_key);
        let restored = if self.env.forgets_wal() {
            None
        } else {
            wal::restore(height, &own_key, wal)
        };
        match restored {
            Some(restored) => state.restore(&self.env, restored, out),
            // L10: upon start do StartRound(0)
            None => state.start_round(&mut self.env, Round::ZERO, out),
        }
        let buffered = self.future.take(height);
        self.state = Some(state);
        if let Some(state) = self.state.as_mut() {
            for message in buffered {
                // Buffered messages were valid when they arrived, signatures included (checked
                // once, before buffering); one from a non-validator of this height is dropped.
                let _ = state.on_message(&mut self.env, message, Signature::Checked, out);
            }
            state.run_rules(&mut self.env, None, out);
        }
        Ok(())
    }

    fn on_message(
        &mut self,
        message: SignedMessage<C>,
        out: &mut Vec<Output<C>>,
    ) -> Result<(), ConsensusError> {
        let state = self.state.as_mut().ok_or(ConsensusError::NotStarted)?;
        let height = message.height();
        if height < state.height {
            return Err(ConsensusError::StaleHeight {
                message_height: height,
                consensus_height: state.height,
            });
        }
        if height > state.height {
            let max_ahead = self.env.config.max_future_heights;
            if height - state.height > max_ahead {
                return Err(ConsensusError::HeightTooFarAhead {
                    message_height: height,
                    consensus_height: state.height,
                    max_ahead,
                });
            }
            self.env.verify_message(&message)?;
            return self.future.push(message, &self.env.config);
        }
        state.on_message(&mut self.env, message, Signature::Unchecked, out)
    }
}

/// Whether a message's signature is still to be checked. Each signature is checked once: messages
/// for a future height are checked before they are buffered and not again when replayed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Signature {
    Unchecked,
    Checked,
}

impl<C: Context> HeightState<C> {
    fn new(height: Height, validators: ValidatorSet<C>, own_key: &C::PublicKey) -> Self {
        HeightState {
            height,
            own_index: validators.index_of(own_key),
            schedule: ProposerSchedule::new(&validators),
            keeper: VoteKeeper::new(validators.len()),
            validators,
            round: Round::ZERO,
            step: Step::Propose,
            locked: None,
            valid: None,
            decided: false,
            proposals: BTreeMap::new(),
            proposal_evidence: BTreeSet::new(),
            validity: HashMap::new(),
            signed: SignedSlots::default(),
            awaiting_value: false,
            prevote_timeout_scheduled: false,
            polka_seen: false,
            precommit_timeout_scheduled: false,
            skip_check_pending: false,
        }
    }

    /// The highest round whose messages are stored.
    fn window_end<S: Signer<C>>(&self, env: &Env<C, S>) -> Round {
        Round(self.round.0.saturating_add(env.config.max_future_rounds))
    }

    fn power_of(&self, index: usize) -> u64 {
        self.validators.get(index).map_or(0, |v| v.voting_power)
    }

    fn proposer_index(&mut self, round: Round) -> usize {
        self.schedule.proposer_index(&self.validators, round)
    }

    fn is_own_proposer(&mut self, round: Round) -> bool {
        let proposer = self.proposer_index(round);
        self.own_index == Some(proposer)
    }

    /// Restores round, step, lock and signed slots from the write-ahead log, and re-sends what was
    /// signed (it may never have left before the crash).
    fn restore<S: Signer<C>>(
        &mut self,
        env: &Env<C, S>,
        restored: Restored<C>,
        out: &mut Vec<Output<C>>,
    ) {
        self.round = restored.round;
        self.step = restored.step;
        self.locked = restored.locked.clone();
        self.valid = restored.locked;
        for message in restored.slots.iter() {
            out.push(Output::Broadcast(message.clone()));
            match message {
                SignedMessage::Proposal(p) => {
                    self.validity
                        .insert(p.proposal.value.clone(), Validity::Valid);
                    self.proposals
                        .entry(p.proposal.round)
                        .or_insert_with(|| p.clone());
                }
                SignedMessage::Vote(v) => {
                    if let Some(own) = self.own_index {
                        let power = self.power_of(own);
                        self.keeper.note_round(own, v.vote.round);
                        let _ = self.keeper.add(own, power, v.clone(), false);
                    }
                }
            }
        }
        self.signed = restored.slots;
        self.skip_check_pending = true;
        if self.step == Step::Propose {
            self.schedule_timeout(env, TimeoutKind::Propose, out);
        }
    }

    fn on_message<S: Signer<C>>(
        &mut self,
        env: &mut Env<C, S>,
        message: SignedMessage<C>,
        signature: Signature,
        out: &mut Vec<Output<C>>,
    ) -> Result<(), ConsensusError> {
        match message {
            SignedMessage::Proposal(p) => self.on_proposal(env, p, signature, out),
            SignedMessage::Vote(v) => self.on_vote(env, v, signature, out),
        }
    }

    fn on_vote<S: Signer<C>>(
        &mut self,
        env: &mut Env<C, S>,
        signed: SignedVote<C>,
        signature: Signature,
        out: &mut Vec<Output<C>>,
    ) -> Result<(), ConsensusError> {
        if self.decided {
            return Ok(());
        }
        let index = self.validators.index_of(&signed.vote.validator).ok_or(
            ConsensusError::UnknownValidator {
                height: self.height,
            },
        )?;
        if signature == Signature::Unchecked {
            env.verify_vote(&signed)?;
        }
        let round = signed.vote.round;
        self.note_round(index, round);
        if round > self.window_end(env) {
            // Too far ahead to store; its round still counts for L55.
            self.run_rules(env, None, out);
            return Ok(());
        }
        let power = self.power_of(index);
        // A conflicting vote still counts for a proposed value (see the vote keeper's doc).
        let matters = signed
            .vote
            .value
            .as_ref()
            .is_some_and(|v| self.validity.contains_key(v));
        match self.keeper.add(index, power, signed, matters) {
            VoteOutcome::Counted => self.run_rules(env, Some(round), out),
            VoteOutcome::Duplicate => self.run_rules(env, None, out),
            VoteOutcome::Equivocation { evidence, counted } => {
                if let Some(evidence) = evidence.filter(|_| !env.hides_evidence()) {
                    out.push(Output::Evidence(*evidence));
                }
                self.run_rules(env, counted.then_some(round), out);
            }
        }
        Ok(())
    }

    fn on_proposal<S: Signer<C>>(
        &mut self,
        env: &mut Env<C, S>,
        signed: SignedProposal<C>,
        signature: Signature,
        out: &mut Vec<Output<C>>,
    ) -> Result<(), ConsensusError> {
        if self.decided {
            return Ok(());
        }
        let proposal = &signed.proposal;
        let round = proposal.round;
        let index = self.validators.index_of(&proposal.proposer).ok_or(
            ConsensusError::UnknownValidator {
                height: self.height,
            },
        )?;
        if round > self.window_end(env) {
            // Too far ahead to check against the proposer schedule; its round still counts for L55.
            if signature == Signature::Unchecked {
                env.verify_proposal(&signed)?;
            }
            self.note_round(index, round);
            self.run_rules(env, None, out);
            return Ok(());
        }
        if self.proposer_index(round) != index {
            return Err(ConsensusError::NotTheProposer {
                height: self.height,
                round,
            });
        }
        if let Some(pol_round) = proposal.pol_round {
            if pol_round >= round {
                return Err(ConsensusError::InvalidPolRound { round, pol_round });
            }
        }
        if signature == Signature::Unchecked {
            env.verify_proposal(&signed)?;
        }
        self.note_round(index, round);
        match self.proposals.get(&round) {
            // Same content is a duplicate even under another signature (schemes may randomise).
            Some(existing) if existing.proposal == signed.proposal => {}
            Some(existing) => {
                if self.proposal_evidence.insert(round) && !env.hides_evidence() {
                    out.push(Output::Evidence(Evidence::ConflictingProposals {
                        first: existing.clone(),
                        second: signed,
                    }));
                }
            }
            None => {
                let value = signed.proposal.value.clone();
                self.proposals.insert(round, signed);
                if env.accepts_invalid_values() {
                    self.validity.insert(value.clone(), Validity::Valid);
                } else if !self.validity.contains_key(&value) {
                    self.validity.insert(value.clone(), Validity::Pending);
                    out.push(Output::ValidateValue {
                        height: self.height,
                        round,
                        value,
                    });
                }
            }
        }
        self.run_rules(env, Some(round), out);
        Ok(())
    }

    fn note_round(&mut self, index: usize, round: Round) {
        if self.keeper.note_round(index, round) && round > self.round {
            self.skip_check_pending = true;
        }
    }

    fn on_propose_value<S: Signer<C>>(
        &mut self,
        env: &mut Env<C, S>,
        height: Height,
        round: Round,
        value: C::ValueId,
        out: &mut Vec<Output<C>>,
    ) {
        if height != self.height
            || round != self.round
            || self.step != Step::Propose
            || !self.awaiting_value
            || self.decided
        {
            return;
        }
        self.awaiting_value = false;
        // L19 with a fresh value: validRound_p is -1 whenever validValue_p is nil.
        self.propose(env, value, None, out);
        self.run_rules(env, Some(round), out);
    }

    fn on_value_validity<S: Signer<C>>(
        &mut self,
        env: &mut Env<C, S>,
        height: Height,
        value: C::ValueId,
        valid: bool,
        out: &mut Vec<Output<C>>,
    ) {
        if height != self.height || self.decided {
            return;
        }
        match self.validity.get_mut(&value) {
            Some(v @ Validity::Pending) => {
                *v = if valid {
                    Validity::Valid
                } else {
                    Validity::Invalid
                };
            }
            _ => return,
        }
        // L49 may have been waiting on valid(v) for an earlier round.
        let rounds: Vec<Round> = self
            .proposals
            .iter()
            .filter(|(_, p)| p.proposal.value == value)
            .map(|(r, _)| *r)
            .collect();
        for round in rounds {
            if self.try_decide(round, out) {
                return;
            }
        }
        self.run_rules(env, None, out);
    }

    fn on_timeout<S: Signer<C>>(
        &mut self,
        env: &mut Env<C, S>,
        timeout: Timeout,
        out: &mut Vec<Output<C>>,
    ) {
        if timeout.height != self.height || timeout.round != self.round || self.decided {
            return;
        }
        match timeout.kind {
            // L57-L60: OnTimeoutPropose
            TimeoutKind::Propose if self.step == Step::Propose => {
                self.cast_vote(env, VoteType::Prevote, None, out);
                self.step = Step::Prevote;
            }
            // L61-L64: OnTimeoutPrevote
            TimeoutKind::Prevote if self.step == Step::Prevote => {
                self.cast_vote(env, VoteType::Precommit, None, out);
                self.step = Step::Precommit;
            }
            // L65-L67: OnTimeoutPrecommit
            TimeoutKind::Precommit => {
                let next = self.round.next();
                self.start_round(env, next, out);
            }
            _ => return,
        }
        self.run_rules(env, None, out);
    }

    fn on_certificate<S: Signer<C>>(
        &mut self,
        env: &Env<C, S>,
        certificate: CommitCertificate<C>,
        out: &mut Vec<Output<C>>,
    ) -> Result<(), ConsensusError> {
        if certificate.height < self.height {
            return Err(ConsensusError::StaleHeight {
                message_height: certificate.height,
                consensus_height: self.height,
            });
        }
        if certificate.height != self.height || self.decided {
            return Ok(());
        }
        certificate.verify(env.config.chain_id(), &self.validators)?;
        self.decided = true;
        out.push(Output::Decide(certificate));
        Ok(())
    }

    /// L11-L21: StartRound(round).
    fn start_round<S: Signer<C>>(
        &mut self,
        env: &mut Env<C, S>,
        round: Round,
        out: &mut Vec<Output<C>>,
    ) {
        self.round = round; // L12
        self.step = Step::Propose; // L13
        self.awaiting_value = false;
        self.prevote_timeout_scheduled = false;
        self.polka_seen = false;
        self.precommit_timeout_scheduled = false;
        self.skip_check_pending = true;
        if self.is_own_proposer(round) {
            // L14
            match self.valid.clone() {
                // L15-L16, L19: re-propose the valid value with its round as proof of lock.
                Some((valid_round, value)) => self.propose(env, value, Some(valid_round), out),
                // L18: getValue(), answered by Input::ProposeValue.
                None => {
                    self.awaiting_value = true;
                    out.push(Output::RequestValue {
                        height: self.height,
                        round,
                    });
                }
            }
        }
        // L21. The paper schedules it only when not proposing; the proposer here also waits for an
        // application that may be slow to produce a value, so it schedules it too. Its own proposal
        // normally reaches L22 long before the timeout.
        self.schedule_timeout(env, TimeoutKind::Propose, out);
    }

    fn schedule_timeout<S: Signer<C>>(
        &self,
        env: &Env<C, S>,
        kind: TimeoutKind,
        out: &mut Vec<Output<C>>,
    ) {
        let timeouts = &env.config.timeouts;
        let schedule = match kind {
            TimeoutKind::Propose => timeouts.propose,
            TimeoutKind::Prevote => timeouts.prevote,
            TimeoutKind::Precommit => timeouts.precommit,
        };
        out.push(Output::ScheduleTimeout {
            timeout: Timeout {
                height: self.height,
                round: self.round,
                kind,
            },
            duration: schedule.duration(self.round),
        });
    }

    /// L19: broadcast ⟨PROPOSAL, h_p, round_p, proposal, validRound_p⟩ (only if this node is the
    /// round's proposer and has not proposed in it yet).
    fn propose<S: Signer<C>>(
        &mut self,
        env: &mut Env<C, S>,
        value: C::ValueId,
        pol_round: Option<Round>,
        out: &mut Vec<Output<C>>,
    ) {
        let round = self.round;
        if !self.is_own_proposer(round) || self.signed.get(round, Step::Propose).is_some() {
            return;
        }
        let proposal = Proposal {
            height: self.height,
            round,
            value: value.clone(),
            pol_round,
            proposer: env.signer.public_key().clone(),
        };
        let signed = env.sign_proposal(proposal);
        let message = SignedMessage::Proposal(signed.clone());
        if !self.signed.record(message.clone()) {
            return;
        }
        out.push(Output::PersistAndBroadcast(message));
        // The application produced (or, for validValue, already accepted) this value.
        self.validity.insert(value, Validity::Valid);
        self.proposals.entry(round).or_insert(signed);
    }

    /// Signs and sends a vote for the current round, and counts it. If this slot was already signed
    /// (before a restart), nothing new is signed: the slot keeps the logged message.
    fn cast_vote<S: Signer<C>>(
        &mut self,
        env: &mut Env<C, S>,
        vote_type: VoteType,
        value: Option<C::ValueId>,
        out: &mut Vec<Output<C>>,
    ) {
        let Some(own) = self.own_index else {
            return;
        };
        if self.signed.get(self.round, vote_type.step()).is_some() {
            return;
        }
        let vote = Vote {
            height: self.height,
            round: self.round,
            vote_type,
            value,
            validator: env.signer.public_key().clone(),
        };
        let signed = env.sign_vote(vote);
        let message = SignedMessage::Vote(signed.clone());
        if !self.signed.record(message.clone()) {
            return;
        }
        out.push(Output::PersistAndBroadcast(message));
        let power = self.power_of(own);
        self.keeper.note_round(own, self.round);
        let _ = self.keeper.add(own, power, signed, false);
    }

    fn validity_of(&self, value: &C::ValueId) -> Option<Validity> {
        self.validity.get(value).copied()
    }

    /// Re-evaluates the rules until none fires. `touched` is a round that just gained a proposal or
    /// precommit, for which the decision rule (which applies to any round) is checked.
    fn run_rules<S: Signer<C>>(
        &mut self,
        env: &mut Env<C, S>,
        touched: Option<Round>,
        out: &mut Vec<Output<C>>,
    ) {
        if let Some(round) = touched {
            if self.try_decide(round, out) {
                return;
            }
        }
        loop {
            if self.decided {
                return;
            }
            if self.skip_check_pending {
                self.skip_check_pending = false;
                // L55-L56: upon f+1 ⟨∗, h_p, round, ∗, ∗⟩ with round > round_p: StartRound(round)
                if let Some(target) = self.keeper.skip_target(self.round, &self.validators) {
                    self.start_round(env, target, out);
                    continue;
                }
            }
            if !self.step_current_round(env, out) {
                return;
            }
            let round = self.round;
            if self.try_decide(round, out) {
                return;
            }
        }
    }

    /// L49-L54: upon ⟨PROPOSAL, h_p, r, v, ∗⟩ from proposer(h_p, r) AND 2f+1 ⟨PRECOMMIT, h_p, r,
    /// id(v)⟩ while decision_p[h_p] = nil: if valid(v), decide. Moving to the next height is the
    /// node's job (it feeds the next `StartHeight`).
    fn try_decide(&mut self, round: Round, out: &mut Vec<Output<C>>) -> bool {
        if self.decided {
            return false;
        }
        let Some(proposal) = self.proposals.get(&round) else {
            return false;
        };
        let value = &proposal.proposal.value;
        // L50: valid(v)
        if self.validity_of(value) != Some(Validity::Valid) {
            return false;
        }
        let power = self
            .keeper
            .power_for(round, VoteType::Precommit, Some(value));
        if !self.validators.is_quorum(power) {
            return false;
        }
        let certificate = self.keeper.commit_certificate(self.height, round, value);
        self.decided = true; // L51
        out.push(Output::Decide(certificate));
        true
    }

    /// The rules about the current round. Returns whether one fired (and so changed the state).
    fn step_current_round<S: Signer<C>>(
        &mut self,
        env: &mut Env<C, S>,
        out: &mut Vec<Output<C>>,
    ) -> bool {
        let round = self.round;
        let proposal = self
            .proposals
            .get(&round)
            .map(|p| (p.proposal.value.clone(), p.proposal.pol_round));

        if self.step == Step::Propose {
            let Some((value, pol_round)) = proposal else {
                return self.check_precommit_timeout(env, out);
            };
            let valid = match self.validity_of(&value) {
                Some(Validity::Valid) => true,
                Some(Validity::Invalid) => false,
                // valid(v) is not known yet: wait for the application (or the propose timeout).
                _ => return self.check_precommit_timeout(env, out),
            };
            let ignore_lock = env.ignores_lock();
            match pol_round {
                // L22-L27
                None => {
                    let unlocked = match &self.locked {
                        None => true,
                        Some((_, locked_value)) => *locked_value == value,
                    };
                    let vote = (valid && (unlocked || ignore_lock)).then_some(value); // L23
                    self.cast_vote(env, VoteType::Prevote, vote, out); // L24 / L26
                    self.step = Step::Prevote; // L27
                    return true;
                }
                // L28-L33
                Some(pol_round) => {
                    let polka = self
                        .keeper
                        .power_for(pol_round, VoteType::Prevote, Some(&value));
                    if pol_round < round && self.validators.is_quorum(polka) {
                        let unlocked = match &self.locked {
                            None => true,
                            Some((locked_round, locked_value)) => {
                                *locked_round <= pol_round || *locked_value == value
                            }
                        };
                        let vote = (valid && (unlocked || ignore_lock)).then_some(value); // L29
                        self.cast_vote(env, VoteType::Prevote, vote, out); // L30 / L32
                        self.step = Step::Prevote; // L33
                        return true;
                    }
                }
            }
            return self.check_precommit_timeout(env, out);
        }

        // L34-L35: upon 2f+1 ⟨PREVOTE, h_p, round_p, ∗⟩ while step_p = prevote for the first time
        if self.step == Step::Prevote
            && !self.prevote_timeout_scheduled
            && self
                .validators
                .is_quorum(self.keeper.total_power(round, VoteType::Prevote))
        {
            self.prevote_timeout_scheduled = true;
            self.schedule_timeout(env, TimeoutKind::Prevote, out);
            return true;
        }

        // L36-L43: upon ⟨PROPOSAL, h_p, round_p, v, ∗⟩ AND 2f+1 ⟨PREVOTE, h_p, round_p, id(v)⟩
        // while valid(v) ∧ step_p ≥ prevote for the first time
        if !self.polka_seen {
            if let Some((value, _)) = &proposal {
                if self.validity_of(value) == Some(Validity::Valid)
                    && self.validators.is_quorum(self.keeper.power_for(
                        round,
                        VoteType::Prevote,
                        Some(value),
                    ))
                {
                    self.polka_seen = true;
                    if self.step == Step::Prevote {
                        // L37
                        self.locked = Some((round, value.clone())); // L38-L39
                        self.cast_vote(env, VoteType::Precommit, Some(value.clone()), out); // L40
                        self.step = Step::Precommit; // L41
                    }
                    self.valid = Some((round, value.clone())); // L42-L43
                    return true;
                }
            }
        }

        // L44-L46: upon 2f+1 ⟨PREVOTE, h_p, round_p, nil⟩ while step_p = prevote
        if self.step == Step::Prevote
            && self
                .validators
                .is_quorum(self.keeper.power_for(round, VoteType::Prevote, None))
        {
            self.cast_vote(env, VoteType::Precommit, None, out); // L45
            self.step = Step::Precommit; // L46
            return true;
        }

        self.check_precommit_timeout(env, out)
    }

    /// L47-L48: upon 2f+1 ⟨PRECOMMIT, h_p, round_p, ∗⟩ for the first time (in any step).
    fn check_precommit_timeout<S: Signer<C>>(
        &mut self,
        env: &Env<C, S>,
        out: &mut Vec<Output<C>>,
    ) -> bool {
        if !self.precommit_timeout_scheduled
            && self
                .validators
                .is_quorum(self.keeper.total_power(self.round, VoteType::Precommit))
        {
            self.precommit_timeout_scheduled = true;
            self.schedule_timeout(env, TimeoutKind::Precommit, out);
            return true;
        }
        false
    }
}
