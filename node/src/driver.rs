//! The consensus driver: the task that carries out what the consensus core asks for, and block
//! sync, which brings a node that is behind up to its peers before it joins consensus again.
//!
//! ```text
//!   gossip ──► validate (decode, signature, validator) ──► core.apply ──► outputs:
//!                                                                 PersistAndBroadcast: WAL (fsync), then gossip
//!   timers ──────────────────────────────────────────────► core        ScheduleTimeout: timer heap
//!                                                                 RequestValue: block from the mempool, executed
//!   sync responses ──► certificate check ──► execute ──► commit      ValidateValue: header rules + execution
//!                                                                 Decide: commit block + certificate + state,
//!                                                                         then the next height after timeout_commit
//! ```
//!
//! Everything that changes consensus state happens in this one task, so there are no locks around
//! the core. Execution and commits run with `block_in_place`, which keeps the runtime's other
//! workers (network, RPC) going meanwhile.

use std::{
    cmp::Reverse,
    collections::{BTreeMap, BinaryHeap, HashMap},
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use cairn_consensus::{
    CommitCertificate, Config as CoreConfig, Consensus, ConsensusError, Evidence, Input, Output,
    SignedMessage, SignedProposal, SignedVote, Step, Timeout, TimeoutSchedule, Timeouts,
    ValidatorSet,
};
use cairn_ledger::{Address, Block, BlockExecution, LedgerError, SignaturePolicy};
use cairn_rpc::backend::CommittedBlock;
use libp2p::PeerId;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use crate::{
    config::{ConsensusConfig, SyncConfig},
    context::{validator_set_at, BlockId, CairnContext, ValidatorSigner},
    error::NodeError,
    evidence::{self, EvidencePool},
    network::{GossipId, NetCommand, NetEvent, Topic, Verdict},
    shared::Shared,
    wal::{Record, RecordKind, Wal},
    wire::{
        self, ConsensusGossip, GossipEnvelope, SyncRequest, SyncResponse, WalMessage,
        WireCertificate,
    },
};

type Ctx = CairnContext;

/// Candidate blocks kept per height at most (one per round, plus a byzantine proposer's extras).
const MAX_CANDIDATES: usize = 64;
/// Heights ahead of the current one whose proposals are kept.
const MAX_FUTURE_HEIGHTS: u64 = 2;
/// A peer one height ahead for this long means this node missed a decision: sync.
const LAG_GRACE: Duration = Duration::from_secs(2);

/// Milliseconds since the Unix epoch, by this machine's clock.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Core(Timeout),
    StartHeight(u64),
}

/// A proposed block waiting for a decision, with its execution once known.
struct Candidate {
    block: Block,
    execution: Option<BlockExecution>,
    /// Whether the write-ahead log holds the block: once an own message is about it.
    logged: bool,
}

/// Block sync's bookkeeping.
#[derive(Default)]
struct SyncState {
    /// Latest committed height each peer reported.
    peer_heights: HashMap<PeerId, u64>,
    /// Requests in flight: peer -> first height and count.
    in_flight: HashMap<PeerId, (u64, u32)>,
    /// Blocks received ahead of the next one to apply.
    buffer: BTreeMap<u64, (Block, WireCertificate, PeerId)>,
    /// Since when some peer has been exactly one height ahead.
    lagging_since: Option<Instant>,
}

/// The driver's state; [`Driver::run`] is the task.
pub struct Driver {
    shared: Arc<Shared>,
    core: Consensus<Ctx, ValidatorSigner>,
    wal: Wal,
    /// Own messages recovered from the log for the height this node resumes.
    recovered: Vec<SignedMessage<Ctx>>,
    consensus_config: ConsensusConfig,
    sync_config: SyncConfig,
    chain_id: String,
    /// The latest committed height (0 = genesis).
    committed: u64,
    committed_time_ms: u64,
    committed_at: Option<Instant>,
    /// The height consensus is deciding, once started.
    height: u64,
    validators: ValidatorSet<Ctx>,
    validators_height: u64,
    candidates: HashMap<BlockId, (u64, Candidate)>,
    /// This node's messages of the current height, re-sent until it is decided.
    own_messages: Vec<SignedMessage<Ctx>>,
    timers: BinaryHeap<Reverse<(Instant, u64, Timer)>>,
    timer_seq: u64,
    /// A decision whose block has not arrived; block sync fetches it.
    undelivered_decision: Option<CommitCertificate<Ctx>>,
    sync: SyncState,
    /// Equivocation evidence waiting for a block.
    evidence: EvidencePool,
    step_started: (u32, Step, Instant),
    events: mpsc::Receiver<NetEvent>,
}

/// What a restarted node takes back from its log for the height it resumes.
struct Resumed {
    /// Its own signed messages, to hand to the consensus core.
    recovered: Vec<SignedMessage<Ctx>>,
    /// The blocks those messages are about, checked again like any proposal's block before they
    /// are voted for or committed.
    candidates: HashMap<BlockId, (u64, Candidate)>,
}

fn resume_from_log<'a>(records: impl Iterator<Item = &'a Record>, resume: u64) -> Resumed {
    let mut resumed = Resumed {
        recovered: Vec::new(),
        candidates: HashMap::new(),
    };
    for record in records {
        match record.kind {
            RecordKind::OwnSigned => {
                match wire::decode::<WalMessage>("log record", &record.payload)
                    .and_then(|m| SignedMessage::try_from(&m))
                {
                    Ok(message) => resumed.recovered.push(message),
                    Err(error) => warn!(%error, "unreadable own record in the write-ahead log"),
                }
            }
            RecordKind::Block => match Block::decode(&record.payload) {
                Ok(block) if block.height() == resume => {
                    let id = block.hash().0;
                    let candidate = Candidate {
                        block,
                        execution: None,
                        logged: true,
                    };
                    resumed.candidates.insert(id, (resume, candidate));
                }
                Ok(block) => warn!(
                    height = block.height(),
                    resume, "a block of another height in the write-ahead log"
                ),
                Err(error) => warn!(%error, "unreadable block in the write-ahead log"),
            },
            RecordKind::Received | RecordKind::HeightStarted => {}
        }
    }
    resumed
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("committed", &self.committed)
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

fn timeouts_from(params: &cairn_genesis::ConsensusParams) -> Timeouts {
    let schedule = |t: &cairn_genesis::Timeout| TimeoutSchedule {
        base: t.base(),
        per_round: t.per_round(),
    };
    Timeouts {
        propose: schedule(&params.timeout_propose),
        prevote: schedule(&params.timeout_prevote),
        precommit: schedule(&params.timeout_precommit),
    }
}

impl Driver {
    /// Opens the write-ahead log and prepares the core; nothing runs until [`Driver::run`].
    pub fn new(
        shared: Arc<Shared>,
        signer: ValidatorSigner,
        wal_dir: &std::path::Path,
        consensus_config: ConsensusConfig,
        sync_config: SyncConfig,
        events: mpsc::Receiver<NetEvent>,
    ) -> Result<Driver, NodeError> {
        let chain_id = shared.genesis.chain_id().to_string();
        let mut core_config = CoreConfig::new(chain_id.clone())?;
        core_config.timeouts = timeouts_from(shared.genesis.consensus());
        core_config.max_future_heights = MAX_FUTURE_HEIGHTS;
        let core = Consensus::new(core_config, signer);

        std::fs::create_dir_all(wal_dir).map_err(NodeError::io("create", wal_dir))?;
        let (wal, recovered_log) = Wal::open(wal_dir)?;
        if let Some(damage) = &recovered_log.damage {
            warn!(?damage, "write-ahead log had a damaged tail; it was cut");
        }
        let meta = shared.store.meta().ok_or(LedgerError::NoGenesis)?;
        let committed = meta.latest_height;
        let resume = committed.saturating_add(1);
        let Resumed {
            recovered,
            candidates,
        } = resume_from_log(recovered_log.at_height(resume), resume);
        if !recovered.is_empty() {
            info!(
                height = resume,
                messages = recovered.len(),
                "resuming from the write-ahead log"
            );
        }
        let committed_time_ms = if committed == 0 {
            shared.genesis.genesis_time_ms()
        } else {
            shared
                .store
                .block(committed)?
                .map_or(0, |block| block.header.time_ms)
        };
        let validators = validator_set_at(&shared.genesis_set, resume);
        Ok(Driver {
            shared,
            core,
            wal,
            recovered,
            consensus_config,
            sync_config,
            chain_id,
            committed,
            committed_time_ms,
            committed_at: None,
            height: 0,
            validators,
            validators_height: resume,
            candidates,
            own_messages: Vec::new(),
            timers: BinaryHeap::new(),
            timer_seq: 0,
            undelivered_decision: None,
            sync: SyncState::default(),
            evidence: EvidencePool::default(),
            step_started: (0, Step::Propose, Instant::now()),
            events,
        })
    }

    /// Runs until `shutdown` turns true. A failure to persist (log or store) stops the node: going
    /// on could sign something the disk does not remember.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) -> Result<(), NodeError> {
        self.shared
            .metrics
            .height
            .set(i64::try_from(self.committed).unwrap_or(i64::MAX));
        self.start_height(self.committed.saturating_add(1))?;
        let mut rebroadcast = tokio::time::interval(Duration::from_millis(
            self.consensus_config.rebroadcast_interval_ms,
        ));
        let mut status =
            tokio::time::interval(Duration::from_millis(self.sync_config.status_interval_ms));
        loop {
            let next_timer = self.timers.peek().map(|Reverse((at, _, _))| *at);
            let sleep = async {
                match next_timer {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = shutdown.changed() => break,
                event = self.events.recv() => match event {
                    Some(event) => self.on_event(event)?,
                    None => break,
                },
                _ = sleep => self.fire_timers()?,
                _ = rebroadcast.tick() => self.rebroadcast(),
                _ = status.tick() => self.poll_status(),
            }
        }
        info!(height = self.committed, "consensus driver stopped");
        Ok(())
    }

    // ----- heights -----

    fn validators_for(&mut self, height: u64) -> ValidatorSet<Ctx> {
        if height == self.validators_height.saturating_add(1) {
            self.validators = self.validators.next_height();
        } else if height != self.validators_height {
            self.validators = validator_set_at(&self.shared.genesis_set, height);
        }
        self.validators_height = height;
        self.validators.clone()
    }

    fn start_height(&mut self, height: u64) -> Result<(), NodeError> {
        if height <= self.height || height != self.committed.saturating_add(1) {
            return Ok(());
        }
        self.height = height;
        self.own_messages.clear();
        self.undelivered_decision = None;
        self.candidates.retain(|_, (h, _)| *h >= height);
        self.timers
            .retain(|Reverse((_, _, timer))| !matches!(timer, Timer::Core(t) if t.height < height));
        let validators = self.validators_for(height);
        let wal = std::mem::take(&mut self.recovered)
            .into_iter()
            .filter(|m| m.height() == height)
            .collect();
        self.step_started = (0, Step::Propose, Instant::now());
        self.apply(Input::StartHeight {
            height,
            validators,
            wal,
        })
    }

    // ----- the core -----

    fn apply(&mut self, input: Input<Ctx>) -> Result<(), NodeError> {
        if let Err(error) = self.apply_reporting(input)? {
            debug!(%error, "consensus refused an input");
        }
        Ok(())
    }

    /// Applies `input` and every input its outputs answer with. Returns the core's verdict on
    /// `input` itself: a message from a peer is accepted or refused (bad signature, not a
    /// validator, stale) by the core, which checks each signature once.
    fn apply_reporting(
        &mut self,
        input: Input<Ctx>,
    ) -> Result<Result<(), ConsensusError>, NodeError> {
        let outputs = match self.core.apply(input) {
            Ok(outputs) => outputs,
            Err(error) => return Ok(Err(error)),
        };
        let mut queue = std::collections::VecDeque::new();
        self.carry_out_all(outputs, &mut queue)?;
        while let Some(input) = queue.pop_front() {
            match self.core.apply(input) {
                Ok(outputs) => self.carry_out_all(outputs, &mut queue)?,
                Err(error) => debug!(%error, "consensus refused an input"),
            }
        }
        Ok(Ok(()))
    }

    fn carry_out_all(
        &mut self,
        outputs: Vec<Output<Ctx>>,
        queue: &mut std::collections::VecDeque<Input<Ctx>>,
    ) -> Result<(), NodeError> {
        self.observe_step();
        for output in outputs {
            if let Some(next) = self.carry_out(output)? {
                queue.push_back(next);
            }
        }
        Ok(())
    }

    /// What gossip should do with a message the core was given.
    fn verdict_of(&self, result: Result<(), ConsensusError>) -> Verdict {
        match result {
            Ok(()) => Verdict::Accept,
            Err(error)
                if error.is_misbehaviour()
                    || matches!(error, ConsensusError::UnknownValidator { .. }) =>
            {
                Verdict::Reject
            }
            Err(_) => Verdict::Ignore,
        }
    }

    fn observe_step(&mut self) {
        let round = self.core.round().0;
        let step = self.core.step();
        let (last_round, last_step, since) = self.step_started;
        if round != last_round || step != last_step {
            let elapsed = since.elapsed().as_secs_f64();
            let histogram = match last_step {
                Step::Propose => &self.shared.metrics.propose_step_seconds,
                Step::Prevote => &self.shared.metrics.prevote_step_seconds,
                Step::Precommit => &self.shared.metrics.precommit_step_seconds,
            };
            histogram.observe(elapsed);
            self.step_started = (round, step, Instant::now());
            self.shared.metrics.round.set(i64::from(round));
        }
    }

    /// Carries out one output; returns the input it answers with, if any.
    fn carry_out(&mut self, output: Output<Ctx>) -> Result<Option<Input<Ctx>>, NodeError> {
        match output {
            Output::PersistAndBroadcast(message) => {
                let height = message.height();
                let mut records = Vec::with_capacity(2);
                // The block goes into the log before the first message about it, in the same
                // write: a restarted node never re-sends a proposal or a vote without its block.
                let value = match &message {
                    SignedMessage::Proposal(proposal) => Some(proposal.proposal.value),
                    SignedMessage::Vote(vote) => vote.vote.value,
                };
                let candidate = value.and_then(|id| self.candidates.get_mut(&id));
                if let Some((_, candidate)) = candidate.filter(|(_, c)| !c.logged) {
                    records.push(Record::new(
                        RecordKind::Block,
                        height,
                        candidate.block.encode(),
                    ));
                    candidate.logged = true;
                }
                records.push(Record::new(
                    RecordKind::OwnSigned,
                    height,
                    wire::encode(&WalMessage::from(&message)),
                ));
                tokio::task::block_in_place(|| self.wal.append_batch(&records))?;
                self.broadcast(&message);
                self.own_messages.push(message);
                Ok(None)
            }
            Output::Broadcast(message) => {
                self.broadcast(&message);
                if !self.own_messages.contains(&message) {
                    self.own_messages.push(message);
                }
                Ok(None)
            }
            Output::ScheduleTimeout { timeout, duration } => {
                self.schedule(Timer::Core(timeout), duration);
                Ok(None)
            }
            Output::RequestValue { height, round } => {
                let value = self.build_proposal(height)?;
                Ok(Some(Input::ProposeValue {
                    height,
                    round,
                    value,
                }))
            }
            Output::ValidateValue {
                height,
                round,
                value,
            } => {
                let valid = self.validate(height, round.0, &value);
                Ok(Some(Input::ValueValidity {
                    height,
                    value,
                    valid,
                }))
            }
            Output::Decide(certificate) => {
                self.decide(certificate)?;
                Ok(None)
            }
            Output::Evidence(evidence) => {
                self.on_evidence(&evidence);
                Ok(None)
            }
        }
    }

    fn schedule(&mut self, timer: Timer, after: Duration) {
        self.timer_seq = self.timer_seq.wrapping_add(1);
        self.timers
            .push(Reverse((Instant::now() + after, self.timer_seq, timer)));
    }

    fn fire_timers(&mut self) -> Result<(), NodeError> {
        let now = Instant::now();
        while let Some(Reverse((at, _, timer))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            match timer {
                Timer::Core(timeout) => {
                    if timeout.height == self.height {
                        self.apply(Input::TimeoutElapsed(timeout))?;
                    }
                }
                Timer::StartHeight(height) => self.start_height(height)?,
            }
        }
        Ok(())
    }

    // ----- gossip out -----

    fn publish(&self, topic: Topic, payload: ConsensusGossip) {
        let envelope = GossipEnvelope {
            sent_at_ms: now_ms(),
            payload,
        };
        let data = wire::encode(&envelope);
        if !self
            .shared
            .net
            .try_send(NetCommand::Publish { topic, data })
        {
            debug!("network queue full; message dropped (it will be re-sent)");
        }
    }

    fn broadcast(&self, message: &SignedMessage<Ctx>) {
        match message {
            SignedMessage::Proposal(proposal) => {
                let Some((_, candidate)) = self.candidates.get(&proposal.proposal.value) else {
                    warn!(
                        height = proposal.proposal.height,
                        "own proposal without its block"
                    );
                    return;
                };
                self.publish(
                    Topic::Consensus,
                    ConsensusGossip::Proposal {
                        proposal: proposal.into(),
                        block: candidate.block.clone(),
                    },
                );
            }
            SignedMessage::Vote(vote) => {
                self.publish(Topic::Consensus, ConsensusGossip::Vote(vote.into()));
            }
        }
    }

    fn rebroadcast(&mut self) {
        if self.core.is_decided() || self.height == 0 {
            return;
        }
        for message in &self.own_messages {
            self.broadcast(message);
        }
    }

    // ----- proposing and validating -----

    /// Execution skips the signatures the mempool checked.
    fn block_policy(&self) -> impl Fn(&cairn_ledger::Hash) -> bool + Sync {
        let verified = self.shared.verified.clone();
        move |hash| verified.contains(hash)
    }

    fn build_proposal(&mut self, height: u64) -> Result<BlockId, NodeError> {
        let params = *self.shared.genesis.consensus();
        let max_txs = usize::try_from(params.max_block_txs).unwrap_or(usize::MAX);
        // Room for the header and length prefixes.
        let max_bytes = usize::try_from(params.max_block_bytes)
            .unwrap_or(usize::MAX)
            .saturating_sub(4096);
        let transactions = self.shared.mempool().select(max_txs, max_bytes);
        let proposer = self
            .shared
            .validator
            .map(|key| Address::from_public_key(&key))
            .unwrap_or(Address([0; 20]));
        let time_ms = now_ms().max(self.committed_time_ms.saturating_add(1));
        let validator_set_hash = self.shared.genesis.validator_set_hash();
        let store = &self.shared.store;
        let evidence = self.evidence.for_block(height, |hash| {
            matches!(store.evidence_height(hash), Ok(Some(_)))
        });
        let started = Instant::now();
        let policy_fn = self.block_policy();
        let result = tokio::task::block_in_place(|| {
            self.shared.store.propose_block_with_evidence(
                time_ms,
                proposer,
                validator_set_hash,
                transactions,
                evidence,
                SignaturePolicy::SkipVerified(&policy_fn),
            )
        });
        let (block, execution) = match result {
            Ok(built) => built,
            Err(error) => {
                // The pool should only hold executable transactions; if it does not, propose an
                // empty block rather than none.
                warn!(%error, height, "proposal from the mempool failed; proposing an empty block");
                let policy_fn = self.block_policy();
                tokio::task::block_in_place(|| {
                    self.shared.store.propose_block(
                        time_ms,
                        proposer,
                        validator_set_hash,
                        Vec::new(),
                        SignaturePolicy::SkipVerified(&policy_fn),
                    )
                })?
            }
        };
        self.shared
            .metrics
            .block_execution_seconds
            .observe(started.elapsed().as_secs_f64());
        let id = block.hash().0;
        debug!(height, txs = block.transactions.len(), "built a proposal");
        self.insert_candidate(
            height,
            id,
            Candidate {
                block,
                execution: Some(execution),
                logged: false,
            },
        );
        Ok(id)
    }

    fn insert_candidate(&mut self, height: u64, id: BlockId, candidate: Candidate) {
        if self.candidates.contains_key(&id) {
            return;
        }
        let at_height = self
            .candidates
            .values()
            .filter(|(h, _)| *h == height)
            .count();
        if at_height >= MAX_CANDIDATES {
            return;
        }
        self.candidates.insert(id, (height, candidate));
    }

    /// The header rules execution does not check, then execution itself.
    fn validate(&mut self, height: u64, round: u32, id: &BlockId) -> bool {
        let drift = self.consensus_config.max_clock_drift_ms;
        let params = *self.shared.genesis.consensus();
        // The fee recipient is whichever validator built the block: a value re-proposed in a later
        // round (with its proof of lock) keeps its original proposer.
        let validator_addresses: Vec<Address> = self
            .shared
            .genesis
            .validators()
            .iter()
            .map(|v| v.address())
            .collect();
        let validator_set_hash = self.shared.genesis.validator_set_hash();
        let committed_time = self.committed_time_ms;
        let Some((_, candidate)) = self.candidates.get_mut(id) else {
            warn!(height, "asked to validate a block this node does not have");
            return false;
        };
        if candidate.execution.is_some() {
            return true;
        }
        let header = &candidate.block.header;
        let problem = if header.height != height {
            Some(format!(
                "height {} in a proposal for {height}",
                header.height
            ))
        } else if !validator_addresses.contains(&header.proposer) {
            Some(format!("proposer {} is not a validator", header.proposer))
        } else if header.validator_set_hash != validator_set_hash {
            Some("wrong validator set hash".into())
        } else if header.time_ms <= committed_time {
            Some(format!(
                "time {} not after the previous block's {committed_time}",
                header.time_ms
            ))
        } else if header.time_ms > now_ms().saturating_add(drift) {
            Some(format!("time {} is in the future", header.time_ms))
        } else if candidate.block.transactions.len() as u64 > params.max_block_txs {
            Some("too many transactions".into())
        } else if candidate.block.encode().len() as u64 > params.max_block_bytes {
            Some("block too large".into())
        } else {
            candidate.block.evidence.iter().find_map(|bytes| {
                evidence::check(bytes, &self.chain_id, &self.shared.genesis_set, height)
                    .err()
                    .map(|error| error.to_string())
            })
        };
        if let Some(problem) = problem {
            warn!(height, round, %problem, "invalid proposal");
            return false;
        }
        let started = Instant::now();
        let verified = &self.shared.verified;
        let policy_fn = move |hash: &cairn_ledger::Hash| verified.contains(hash);
        let store = &self.shared.store;
        let block = &candidate.block;
        let result = tokio::task::block_in_place(|| {
            store.execute_block(block, SignaturePolicy::SkipVerified(&policy_fn))
        });
        self.shared
            .metrics
            .block_execution_seconds
            .observe(started.elapsed().as_secs_f64());
        match result {
            Ok(execution) => {
                candidate.execution = Some(execution);
                true
            }
            Err(error) => {
                warn!(height, round, %error, "invalid proposal");
                false
            }
        }
    }

    // ----- deciding and committing -----

    fn decide(&mut self, certificate: CommitCertificate<Ctx>) -> Result<(), NodeError> {
        let id = certificate.value;
        let Some((_, candidate)) = self.candidates.remove(&id) else {
            info!(
                height = certificate.height,
                "decided a block not received yet; fetching it"
            );
            self.undelivered_decision = Some(certificate);
            self.poll_status();
            return Ok(());
        };
        let round = certificate.round.0;
        self.commit(
            candidate.block,
            candidate.execution,
            &(&certificate).into(),
            round,
            false,
        )?;
        let delay = self.shared.genesis.consensus().timeout_commit();
        self.schedule(Timer::StartHeight(self.committed.saturating_add(1)), delay);
        Ok(())
    }

    /// Commits a decided block, its execution and its certificate durably to the store, then tells
    /// the mempool, the log and the subscribers.
    fn commit(
        &mut self,
        block: Block,
        execution: Option<BlockExecution>,
        certificate: &WireCertificate,
        round: u32,
        synced: bool,
    ) -> Result<(), NodeError> {
        let height = block.height();
        let mut execution = match execution {
            Some(execution) => execution,
            None => {
                let started = Instant::now();
                let verified = &self.shared.verified;
                let policy_fn = move |hash: &cairn_ledger::Hash| verified.contains(hash);
                let execution = tokio::task::block_in_place(|| {
                    self.shared
                        .store
                        .execute_block(&block, SignaturePolicy::SkipVerified(&policy_fn))
                })?;
                self.shared
                    .metrics
                    .block_execution_seconds
                    .observe(started.elapsed().as_secs_f64());
                execution
            }
        };
        self.evidence.remove_committed(&block.evidence);
        let started = Instant::now();
        let certificate_bytes = wire::encode(certificate);
        tokio::task::block_in_place(|| {
            self.shared
                .store
                .commit_block(&block, &mut execution, &certificate_bytes)
        })?;
        let commit_seconds = started.elapsed().as_secs_f64();
        self.shared
            .metrics
            .block_commit_seconds
            .observe(commit_seconds);
        {
            let mut mempool = self.shared.mempool();
            mempool.on_block_committed(&execution.tx_hashes, &execution.changed_accounts);
            self.shared
                .update_mempool_metrics(mempool.len(), mempool.bytes());
        }
        tokio::task::block_in_place(|| self.wal.start_height(height.saturating_add(1)))?;

        let now = Instant::now();
        let interval = self.committed_at.map(|at| now.duration_since(at));
        if let Some(interval) = interval {
            self.shared
                .metrics
                .block_interval_seconds
                .observe(interval.as_secs_f64());
        }
        self.committed_at = Some(now);
        self.committed = height;
        self.committed_time_ms = block.header.time_ms;
        let metrics = &self.shared.metrics;
        metrics
            .height
            .set(i64::try_from(height).unwrap_or(i64::MAX));
        metrics
            .committed_transactions
            .inc_by(block.transactions.len() as u64);
        metrics.committed_blocks.inc();
        if synced {
            metrics.synced_blocks.inc();
        }
        let hash = block.hash();
        info!(
            height,
            txs = block.transactions.len(),
            evidence = block.evidence.len(),
            round,
            hash = %hash,
            interval_ms = interval.map(|i| i.as_millis() as u64),
            commit_ms = (commit_seconds * 1000.0) as u64,
            synced,
            "committed block"
        );
        // No subscriber is not an error.
        let _ = self.shared.blocks.send(Arc::new(CommittedBlock {
            hash,
            tx_hashes: execution.tx_hashes,
            header: block.header,
        }));
        Ok(())
    }

    fn on_evidence(&mut self, evidence: &Evidence<Ctx>) {
        warn!(
            offender = %evidence.offender(),
            height = evidence.height(),
            round = evidence.round().0,
            "equivocation evidence"
        );
        self.shared.metrics.evidence.inc();
        self.evidence
            .add(evidence.height(), evidence::canonical_bytes(evidence));
        self.publish(Topic::Consensus, ConsensusGossip::Evidence(evidence.into()));
    }

    // ----- gossip in -----

    fn on_event(&mut self, event: NetEvent) -> Result<(), NodeError> {
        match event {
            NetEvent::Gossip {
                topic: Topic::Consensus,
                id,
                data,
            } => self.on_consensus_gossip(id, &data),
            NetEvent::Gossip { id, .. } => {
                self.verdict(id, Verdict::Ignore);
                Ok(())
            }
            NetEvent::SyncResponse {
                peer,
                request,
                response,
            } => self.on_sync_response(peer, request, response),
            NetEvent::SyncFailed { peer, .. } => {
                self.sync.in_flight.remove(&peer);
                Ok(())
            }
            NetEvent::PeerConnected(peer) => {
                self.request(peer, SyncRequest::Status);
                Ok(())
            }
            NetEvent::PeerDisconnected(peer) => {
                self.sync.peer_heights.remove(&peer);
                self.sync.in_flight.remove(&peer);
                Ok(())
            }
            NetEvent::SyncRequest { .. } => Ok(()),
        }
    }

    fn verdict(&self, id: GossipId, verdict: Verdict) {
        if verdict == Verdict::Reject {
            self.shared.metrics.invalid_gossip.inc();
        }
        let _ = self
            .shared
            .net
            .try_send(NetCommand::Validated { id, verdict });
    }

    fn on_consensus_gossip(&mut self, id: GossipId, data: &[u8]) -> Result<(), NodeError> {
        let envelope: GossipEnvelope<ConsensusGossip> = match wire::decode("consensus gossip", data)
        {
            Ok(envelope) => envelope,
            Err(error) => {
                debug!(peer = %id.source(), %error, "undecodable consensus gossip");
                self.verdict(id, Verdict::Reject);
                return Ok(());
            }
        };
        let current = self.height.max(self.committed.saturating_add(1));
        let too_old = |h: u64| h < current;
        let too_new = |h: u64| h > current.saturating_add(MAX_FUTURE_HEIGHTS);
        match envelope.payload {
            ConsensusGossip::Proposal { proposal, block } => {
                let signed = SignedProposal::<Ctx>::from(&proposal);
                let height = signed.proposal.height;
                if too_old(height) || too_new(height) {
                    self.verdict(id, Verdict::Ignore);
                    return Ok(());
                }
                if block.hash().0 != signed.proposal.value {
                    self.verdict(id, Verdict::Reject);
                    return Ok(());
                }
                // A decided height takes no more messages: the core would not check them, so
                // they are not forwarded either.
                if self.core.is_decided() && height == self.height {
                    self.verdict(id, Verdict::Ignore);
                    return Ok(());
                }
                let value = signed.proposal.value;
                let known = self.candidates.contains_key(&value);
                self.insert_candidate(
                    height,
                    value,
                    Candidate {
                        block,
                        execution: None,
                        logged: false,
                    },
                );
                if let Some(certificate) = self.undelivered_decision.take() {
                    if certificate.value == value {
                        // The certificate vouches for the block; the proposal is not needed.
                        self.verdict(id, Verdict::Ignore);
                        return self.decide(certificate);
                    }
                    self.undelivered_decision = Some(certificate);
                }
                let result = self.apply_reporting(Input::Proposal(signed))?;
                let verdict = self.verdict_of(result);
                if verdict == Verdict::Reject && !known {
                    self.candidates.remove(&value);
                }
                self.verdict(id, verdict);
                Ok(())
            }
            ConsensusGossip::Vote(wire_vote) => {
                let Ok(signed) = SignedVote::<Ctx>::try_from(&wire_vote) else {
                    self.verdict(id, Verdict::Reject);
                    return Ok(());
                };
                let height = signed.vote.height;
                if too_old(height) || too_new(height) {
                    self.verdict(id, Verdict::Ignore);
                    return Ok(());
                }
                if self.core.is_decided() && height == self.height {
                    self.verdict(id, Verdict::Ignore);
                    return Ok(());
                }
                let result = self.apply_reporting(Input::Vote(signed))?;
                let verdict = self.verdict_of(result);
                self.verdict(id, verdict);
                Ok(())
            }
            ConsensusGossip::Evidence(wire_evidence) => {
                let valid = Evidence::<Ctx>::try_from(&wire_evidence)
                    .ok()
                    .filter(|evidence| {
                        evidence
                            .verify(&self.chain_id, &self.shared.genesis_set)
                            .is_ok()
                    });
                if let Some(evidence) = valid {
                    self.shared.metrics.evidence.inc();
                    self.evidence
                        .add(evidence.height(), evidence::canonical_bytes(&evidence));
                    self.verdict(id, Verdict::Accept);
                } else {
                    self.verdict(id, Verdict::Reject);
                }
                Ok(())
            }
        }
    }

    // ----- block sync -----

    fn request(&self, peer: PeerId, request: SyncRequest) {
        let _ = self
            .shared
            .net
            .try_send(NetCommand::Request { peer, request });
    }

    fn poll_status(&mut self) {
        let peers: Vec<PeerId> = self.sync.peer_heights.keys().copied().collect();
        for peer in peers {
            self.request(peer, SyncRequest::Status);
        }
        self.request_blocks();
    }

    /// The height sync should reach, if this node is behind.
    fn sync_target(&mut self) -> Option<u64> {
        let best = self.sync.peer_heights.values().copied().max()?;
        let behind = best.saturating_sub(self.committed);
        let target = match behind {
            0 => None,
            1 if self.undelivered_decision.is_none() => {
                // Peers often commit a moment before this node does; only a lag that lasts means
                // this node missed the decision.
                let since = *self.sync.lagging_since.get_or_insert_with(Instant::now);
                (since.elapsed() >= LAG_GRACE).then_some(best)
            }
            _ => Some(best),
        };
        if behind != 1 {
            self.sync.lagging_since = None;
        }
        target
    }

    fn request_blocks(&mut self) {
        let Some(target) = self.sync_target() else {
            if self.shared.is_syncing() {
                self.shared.set_syncing(false);
            }
            return;
        };
        if target > self.committed.saturating_add(1) && !self.shared.is_syncing() {
            info!(
                from = self.committed,
                to = target,
                "behind peers; syncing blocks"
            );
            self.shared.set_syncing(true);
        }
        let per_request = self.sync_config.blocks_per_request;
        let mut next = self.committed.saturating_add(1);
        let mut peers: Vec<(PeerId, u64)> = self
            .sync
            .peer_heights
            .iter()
            .map(|(p, h)| (*p, *h))
            .collect();
        // Highest peers first. Each peer has at most one request in flight, so consecutive
        // ranges go to different peers.
        peers.sort_by_key(|(p, h)| (Reverse(*h), p.to_bytes()));
        for (peer, peer_height) in peers {
            if self.sync.in_flight.len() >= self.sync_config.parallel_requests {
                break;
            }
            if self.sync.in_flight.contains_key(&peer) {
                continue;
            }
            // The lowest height neither buffered nor requested.
            loop {
                if self.sync.buffer.contains_key(&next) {
                    next = next.saturating_add(1);
                    continue;
                }
                let covering = self
                    .sync
                    .in_flight
                    .values()
                    .find(|(from, count)| {
                        next >= *from && next < from.saturating_add(u64::from(*count))
                    })
                    .map(|(from, count)| from.saturating_add(u64::from(*count)));
                match covering {
                    Some(end) => next = end,
                    None => break,
                }
            }
            if next > peer_height || next > target {
                continue;
            }
            let count = u32::try_from((peer_height - next + 1).min(u64::from(per_request)))
                .unwrap_or(per_request);
            self.sync.in_flight.insert(peer, (next, count));
            self.request(peer, SyncRequest::Blocks { from: next, count });
            next = next.saturating_add(u64::from(count));
        }
    }

    fn on_sync_response(
        &mut self,
        peer: PeerId,
        request: SyncRequest,
        response: SyncResponse,
    ) -> Result<(), NodeError> {
        match (request, response) {
            (
                SyncRequest::Status,
                SyncResponse::Status {
                    genesis_hash,
                    latest_height,
                },
            ) => {
                if genesis_hash != self.shared.genesis.hash() {
                    warn!(%peer, "peer is on another chain (genesis hash differs)");
                    self.sync.peer_heights.remove(&peer);
                    return Ok(());
                }
                self.sync.peer_heights.insert(peer, latest_height);
                if latest_height > self.committed {
                    self.request_blocks();
                }
                Ok(())
            }
            (SyncRequest::Blocks { from, count }, SyncResponse::Blocks(blocks)) => {
                self.sync.in_flight.remove(&peer);
                let end = from.saturating_add(u64::from(count));
                for (block, certificate) in blocks {
                    let height = block.height();
                    if height < from || height >= end || height <= self.committed {
                        continue;
                    }
                    self.sync.buffer.insert(height, (block, certificate, peer));
                }
                self.apply_synced()?;
                self.request_blocks();
                Ok(())
            }
            _ => {
                self.sync.in_flight.remove(&peer);
                Ok(())
            }
        }
    }

    /// Commits buffered blocks in order, each only with a valid certificate for it.
    fn apply_synced(&mut self) -> Result<(), NodeError> {
        let mut applied = false;
        loop {
            let next = self.committed.saturating_add(1);
            self.sync.buffer.retain(|h, _| *h >= next);
            let Some((block, certificate, peer)) = self.sync.buffer.remove(&next) else {
                break;
            };
            let core_certificate = CommitCertificate::<Ctx>::from(&certificate);
            // The set never changes (only proposer priorities do, and a certificate's check
            // does not use them), so the genesis set verifies every height.
            let validators = &self.shared.genesis_set;
            if certificate.height != next || certificate.value != block.hash().0 {
                warn!(%peer, height = next, "synced block does not match its certificate");
                continue;
            }
            if let Err(error) = core_certificate.verify(&self.chain_id, validators) {
                warn!(%peer, height = next, %error, "synced block has an invalid certificate");
                continue;
            }
            let round = certificate.round;
            // A decision this node reached without the block: the certificate may differ (other
            // precommits), the block cannot.
            if let Some((_, candidate)) = self.candidates.remove(&block.hash().0) {
                self.commit(block, candidate.execution, &certificate, round, true)?;
            } else {
                self.commit(block, None, &certificate, round, true)?;
            }
            applied = true;
        }
        if applied {
            // Join consensus at the next height at once: the others are already deciding it.
            self.start_height(self.committed.saturating_add(1))?;
            if self.sync_target().is_none() {
                info!(height = self.committed, "caught up with peers");
                self.shared.set_syncing(false);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use cairn_ledger::{Address, BlockHeader, Hash};

    use super::*;

    fn block(height: u64) -> Block {
        Block {
            header: BlockHeader {
                chain_id: "cairn-test".into(),
                height,
                time_ms: 1,
                prev_hash: Hash::ZERO,
                tx_root: Hash::ZERO,
                evidence_root: Hash::ZERO,
                state_root: Hash::ZERO,
                validator_set_hash: Hash::ZERO,
                proposer: Address([7; 20]),
            },
            transactions: Vec::new(),
            evidence: Vec::new(),
        }
    }

    #[test]
    fn a_restarted_node_takes_back_the_blocks_its_messages_are_about() {
        let logged = block(5);
        let records = [
            Record::new(RecordKind::HeightStarted, 5, Vec::new()),
            Record::new(RecordKind::Block, 5, logged.encode()),
            Record::new(RecordKind::Block, 5, b"not a block".to_vec()),
            // A block record can only hold the height it is logged at; one that does not is
            // left out, not trusted.
            Record::new(RecordKind::Block, 5, block(6).encode()),
            Record::new(RecordKind::Received, 5, b"a peer's vote".to_vec()),
        ];
        let resumed = resume_from_log(records.iter(), 5);
        let id = logged.hash().0;
        assert!(resumed.recovered.is_empty());
        assert_eq!(resumed.candidates.len(), 1);
        let (height, candidate) = &resumed.candidates[&id];
        assert_eq!(*height, 5);
        assert_eq!(candidate.block, logged);
        assert!(candidate.execution.is_none());
        assert!(candidate.logged);
    }
}
