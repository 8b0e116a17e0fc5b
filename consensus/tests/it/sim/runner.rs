//! The simulator: a seeded event loop with a lossy, partitionable network, crash-restarts that replay
//! the write-ahead log, byzantine nodes, and the safety and liveness checks.

use std::{
    cmp::Reverse,
    collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet, VecDeque},
    fmt,
    time::Duration,
};

use cairn_consensus::{
    testing::{test_validator_set, TestContext, TestSigner},
    CommitCertificate, Config, Consensus, Input, Output, SignedMessage, Step, Timeout,
    TimeoutSchedule, Timeouts, ValidatorSet,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{
    byzantine::ByzantineNode,
    scenario::{Scenario, HEALED_MAX_DELAY},
    values::{honest_value, is_valid},
    CHAIN_ID,
};

type Ctx = TestContext;
type Message = SignedMessage<Ctx>;

/// Honest nodes must decide every height within this long after the network heals (ms).
pub const TERMINATION_BOUND: u64 = 30_000;
/// How often a stalled node re-sends its messages of the current height (ms).
const GOSSIP_INTERVAL: u64 = 60;
/// Messages of the current height a node keeps for relaying.
const RELAY_CAPACITY: usize = 4096;
/// How often a node answers a lagging peer with a certificate (ms).
const CERTIFICATE_REPLY_INTERVAL: u64 = 30;

/// A broken property, with what the simulator saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub check: &'static str,
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} violated: {}", self.check, self.detail)
    }
}

fn violation(check: &'static str, detail: String) -> Violation {
    Violation { check, detail }
}

/// What a successful run did.
#[derive(Debug, Clone, Copy)]
#[allow(dead_code)] // read through Debug when replaying a seed
pub struct Outcome {
    pub events: u64,
    pub end_time: u64,
    /// How long after the network healed the last honest decision came (0 if before).
    pub decided_after_heal: u64,
    /// Equivocations honest nodes saw (each one checked to be reported).
    pub equivocations_seen: usize,
}

#[derive(Debug, Clone)]
enum Net {
    Consensus(Message),
    Certificate(CommitCertificate<Ctx>),
}

#[derive(Debug)]
enum Event {
    Deliver {
        to: usize,
        from: usize,
        net: Net,
    },
    Timeout {
        node: usize,
        incarnation: u32,
        timeout: Timeout,
    },
    ProposeValue {
        node: usize,
        incarnation: u32,
        height: u64,
        round: u32,
    },
    Validity {
        node: usize,
        incarnation: u32,
        height: u64,
        value: u64,
    },
    Gossip {
        node: usize,
    },
    Crash {
        node: usize,
    },
    Restart {
        node: usize,
    },
}

struct Scheduled {
    time: u64,
    seq: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.time, self.seq) == (other.time, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        Reverse((self.time, self.seq)).cmp(&Reverse((other.time, other.seq)))
    }
}

/// Slot of a signed message for equivocation bookkeeping: (height, round, step, signer).
type Slot = (u64, u32, Step, u32);

struct HonestNode {
    core: Option<Consensus<Ctx, TestSigner>>,
    incarnation: u32,
    /// The write-ahead log: own signed messages of the current height.
    wal: Vec<Message>,
    /// Decided heights (the durable chain).
    certificates: BTreeMap<u64, CommitCertificate<Ctx>>,
    /// Messages received for the current height and above, relayed by gossip: what one correct node
    /// received, every correct node eventually receives (the paper's gossip assumption). Durable:
    /// it survives a crash, like the received messages in CometBFT's WAL.
    relay: Vec<Message>,
    relayed: HashSet<Message>,
    /// First message seen per slot in this incarnation (for the evidence check).
    seen: HashMap<Slot, Message>,
    last_gossip_position: Option<(u64, u32, Step)>,
    last_certificate_reply: HashMap<usize, u64>,
}

/// The sim's consensus settings: short timeouts in simulated milliseconds.
pub fn sim_config() -> Config {
    let mut config = Config::new(CHAIN_ID).unwrap();
    let schedule = |base, per_round| TimeoutSchedule {
        base: Duration::from_millis(base),
        per_round: Duration::from_millis(per_round),
    };
    config.timeouts = Timeouts {
        propose: schedule(50, 10),
        prevote: schedule(20, 10),
        precommit: schedule(20, 10),
    };
    config.max_future_rounds = 16;
    config
}

struct Sim<'a> {
    scenario: &'a Scenario,
    rng: ChaCha8Rng,
    now: u64,
    seq: u64,
    queue: BinaryHeap<Scheduled>,
    n: usize,
    sets: Vec<ValidatorSet<Ctx>>,
    config: Config,
    honest: Vec<Option<HonestNode>>,
    byzantine: Vec<Option<ByzantineNode>>,
    /// First decision per height: (node, value).
    decisions: BTreeMap<u64, (usize, u64)>,
    /// Every message an honest node signed, by (node, height, round, step).
    signed: HashMap<(usize, u64, u32, Step), Message>,
    /// (node, slot) pairs where an honest node received two conflicting messages.
    obligations: BTreeSet<(usize, Slot)>,
    /// (node, slot) pairs an honest node reported evidence for.
    reported: BTreeSet<(usize, Slot)>,
    events: u64,
    /// Print every output (`CAIRN_SIM_TRACE=1` when replaying a seed).
    trace: bool,
}

/// Runs one scenario and checks every property.
pub fn run(scenario: &Scenario) -> Result<Outcome, Violation> {
    let n = scenario.powers.len();
    let genesis = test_validator_set(&scenario.powers).unwrap();
    let mut sets = vec![genesis.clone(), genesis];
    for h in 2..=scenario.heights + 3 {
        let next = sets[h as usize - 1].next_height();
        sets.push(next);
    }
    let mut sim = Sim {
        scenario,
        rng: ChaCha8Rng::seed_from_u64(scenario.seed ^ 0x5eed_5eed),
        now: 0,
        seq: 0,
        queue: BinaryHeap::new(),
        n,
        sets,
        config: sim_config(),
        honest: (0..n).map(|_| None).collect(),
        byzantine: (0..n)
            .map(|i| scenario.byzantine[i].map(|b| ByzantineNode::new(i, b)))
            .collect(),
        decisions: BTreeMap::new(),
        signed: HashMap::new(),
        obligations: BTreeSet::new(),
        reported: BTreeSet::new(),
        events: 0,
        trace: std::env::var_os("CAIRN_SIM_TRACE").is_some(),
    };
    sim.start()?;
    let deadline = scenario.heal_at + TERMINATION_BOUND;
    while let Some(next) = sim.queue.pop() {
        if next.time > deadline {
            break;
        }
        sim.now = next.time;
        sim.events += 1;
        sim.handle(next.event)?;
        if sim.all_decided() {
            break;
        }
    }
    if !sim.all_decided() {
        let behind: Vec<_> = sim
            .honest
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.as_ref().map(|h| (i, h)))
            .filter(|(_, h)| (h.certificates.len() as u64) < scenario.heights)
            .map(|(i, h)| {
                let core = h.core.as_ref();
                (
                    i,
                    h.certificates.len(),
                    core.and_then(|c| c.height()),
                    core.map(|c| (c.round(), c.step(), c.locked().cloned(), c.valid().cloned())),
                )
            })
            .collect();
        return Err(violation(
            "termination",
            format!(
                "by {} ms ({} ms after healing) honest (node, heights decided, height, (round, step, locked, valid)) behind: {:?}",
                sim.now, TERMINATION_BOUND, behind
            ),
        ));
    }
    for (node, slot) in &sim.obligations {
        if !sim.reported.contains(&(*node, *slot)) {
            return Err(violation(
                "evidence",
                format!("node {node} saw conflicting messages for {slot:?} but reported nothing"),
            ));
        }
    }
    Ok(Outcome {
        events: sim.events,
        end_time: sim.now,
        decided_after_heal: sim.now.saturating_sub(scenario.heal_at),
        equivocations_seen: sim.obligations.len(),
    })
}

impl Sim<'_> {
    fn schedule(&mut self, time: u64, event: Event) {
        self.seq += 1;
        self.queue.push(Scheduled {
            time,
            seq: self.seq,
            event,
        });
    }

    fn all_decided(&self) -> bool {
        self.honest.iter().flatten().all(|h| {
            h.certificates.range(1..=self.scenario.heights).count() as u64 == self.scenario.heights
        })
    }

    fn start(&mut self) -> Result<(), Violation> {
        for node in 0..self.n {
            if self.scenario.byzantine[node].is_some() {
                continue;
            }
            self.honest[node] = Some(HonestNode {
                core: None,
                incarnation: 0,
                wal: Vec::new(),
                certificates: BTreeMap::new(),
                relay: Vec::new(),
                relayed: HashSet::new(),
                seen: HashMap::new(),
                last_gossip_position: None,
                last_certificate_reply: HashMap::new(),
            });
            self.boot(node)?;
            let offset = self.rng.gen_range(0..GOSSIP_INTERVAL);
            self.schedule(offset, Event::Gossip { node });
        }
        for crash in self.scenario.crashes.clone() {
            self.schedule(crash.at, Event::Crash { node: crash.node });
            self.schedule(crash.restart_at, Event::Restart { node: crash.node });
        }
        Ok(())
    }

    /// Starts (or restarts) an honest node at the height after its last decision, replaying its WAL.
    fn boot(&mut self, node: usize) -> Result<(), Violation> {
        let mutation = self.scenario.mutation;
        let config = self.config.clone();
        let h = self.honest[node].as_mut().unwrap();
        let height = h.certificates.keys().next_back().map_or(1, |h| h + 1);
        let mut core = Consensus::new(config, TestSigner(node as u32));
        core.set_mutation(mutation);
        h.seen.clear();
        if !self.scenario.keep_received_on_crash {
            h.relay.clear();
            h.relayed.clear();
        }
        let wal = h.wal.clone();
        let outputs = core
            .apply(Input::StartHeight {
                height,
                validators: self.sets[height as usize].clone(),
                wal,
            })
            .unwrap();
        h.core = Some(core);
        // Received messages are logged too (as CometBFT's WAL does): not needed for safety, but a
        // restarted node must not lose the only copy of a proof of lock it relied on.
        let received: Vec<Message> = h
            .relay
            .iter()
            .filter(|m| m.height() == height)
            .cloned()
            .collect();
        self.handle_outputs(node, outputs)?;
        for message in received {
            self.deliver(node, node, Net::Consensus(message))?;
        }
        Ok(())
    }

    fn partitioned(&self, a: usize, b: usize) -> bool {
        self.scenario
            .partitions
            .iter()
            .any(|p| p.start <= self.now && self.now < p.end && p.group_of[a] != p.group_of[b])
    }

    fn send(&mut self, from: usize, to: usize, net: Net) {
        if from == to {
            return;
        }
        let healed = self.now >= self.scenario.heal_at;
        let max_delay = if healed {
            HEALED_MAX_DELAY
        } else {
            if self.partitioned(from, to)
                || self.rng.gen_range(0..1000) < self.scenario.loss_per_mille
            {
                return;
            }
            self.scenario.max_delay
        };
        let delay = self.rng.gen_range(1..=max_delay);
        if !healed && self.rng.gen_range(0..1000) < self.scenario.duplicate_per_mille {
            let again = self.rng.gen_range(1..=max_delay);
            self.schedule(
                self.now + again,
                Event::Deliver {
                    to,
                    from,
                    net: net.clone(),
                },
            );
        }
        self.schedule(self.now + delay, Event::Deliver { to, from, net });
    }

    fn broadcast(&mut self, from: usize, message: &Message) {
        for to in 0..self.n {
            self.send(from, to, Net::Consensus(message.clone()));
        }
    }

    fn handle(&mut self, event: Event) -> Result<(), Violation> {
        match event {
            Event::Deliver { to, from, net } => self.deliver(to, from, net),
            Event::Timeout {
                node,
                incarnation,
                timeout,
            } => self.feed(node, incarnation, Input::TimeoutElapsed(timeout)),
            Event::ProposeValue {
                node,
                incarnation,
                height,
                round,
            } => {
                let value = honest_value(self.scenario.seed, node, height, round);
                let input = Input::ProposeValue {
                    height,
                    round: cairn_consensus::Round(round),
                    value,
                };
                self.feed(node, incarnation, input)
            }
            Event::Validity {
                node,
                incarnation,
                height,
                value,
            } => {
                let input = Input::ValueValidity {
                    height,
                    value,
                    valid: is_valid(value),
                };
                self.feed(node, incarnation, input)
            }
            Event::Gossip { node } => self.gossip(node),
            Event::Crash { node } => {
                let h = self.honest[node].as_mut().unwrap();
                h.core = None;
                h.incarnation += 1;
                Ok(())
            }
            Event::Restart { node } => self.boot(node),
        }
    }

    /// Feeds an input to a live node of the given incarnation.
    fn feed(&mut self, node: usize, incarnation: u32, input: Input<Ctx>) -> Result<(), Violation> {
        let Some(h) = self.honest[node].as_mut() else {
            return Ok(());
        };
        if h.incarnation != incarnation {
            return Ok(());
        }
        let Some(core) = h.core.as_mut() else {
            return Ok(());
        };
        match core.apply(input) {
            Ok(outputs) => self.handle_outputs(node, outputs),
            Err(_) => Ok(()),
        }
    }

    fn gossip(&mut self, node: usize) -> Result<(), Violation> {
        self.schedule(self.now + GOSSIP_INTERVAL, Event::Gossip { node });
        let h = self.honest[node].as_mut().unwrap();
        let Some(core) = h.core.as_ref() else {
            return Ok(());
        };
        let position = (core.height().unwrap_or(0), core.round().0, core.step());
        let stalled = h.last_gossip_position == Some(position);
        h.last_gossip_position = Some(position);
        if !stalled {
            return Ok(());
        }
        // Anti-entropy: a stalled node pushes what it has to one random peer.
        let height = position.0;
        let mut messages = h.wal.clone();
        messages.extend(h.relay.iter().filter(|m| m.height() == height).cloned());
        let peer = self.rng.gen_range(0..self.n);
        for message in messages {
            self.send(node, peer, Net::Consensus(message));
        }
        Ok(())
    }

    fn deliver(&mut self, to: usize, from: usize, net: Net) -> Result<(), Violation> {
        if let Some(byzantine) = self.byzantine[to].as_mut() {
            if let Net::Consensus(message) = &net {
                let sends = byzantine.on_message(
                    message,
                    &self.sets,
                    self.n,
                    self.scenario.seed,
                    &mut self.rng,
                );
                for (recipient, message) in sends {
                    self.send(to, recipient, Net::Consensus(message));
                }
            }
            return Ok(());
        }
        let max_future_rounds = self.config.max_future_rounds;
        let now = self.now;
        let h = self.honest[to].as_mut().unwrap();
        let Some(core) = h.core.as_mut() else {
            return Ok(());
        };
        let height = core.height().unwrap_or(0);
        let input = match net {
            Net::Certificate(certificate) => Input::CommitCertificate(certificate),
            Net::Consensus(message) => {
                if message.height() < height {
                    // A lagging peer: help it catch up with the certificate it needs.
                    let due = h
                        .last_certificate_reply
                        .get(&from)
                        .is_none_or(|t| now >= t + CERTIFICATE_REPLY_INTERVAL);
                    if let (true, Some(c)) = (due, h.certificates.get(&message.height())) {
                        let c = c.clone();
                        h.last_certificate_reply.insert(from, now);
                        self.send(to, from, Net::Certificate(c));
                    }
                    return Ok(());
                }
                let eligible = message.height() == height
                    && !core.is_decided()
                    && message.round().0 <= core.round().0.saturating_add(max_future_rounds);
                if eligible {
                    let slot = (
                        message.height(),
                        message.round().0,
                        message.step(),
                        *message.signer(),
                    );
                    match h.seen.get(&slot) {
                        Some(first) if *first != message => {
                            self.obligations.insert((to, slot));
                        }
                        Some(_) => {}
                        None => {
                            h.seen.insert(slot, message.clone());
                        }
                    }
                }
                if message.height() >= height
                    && h.relay.len() < RELAY_CAPACITY
                    && h.relayed.insert(message.clone())
                {
                    h.relay.push(message.clone());
                }
                match message {
                    SignedMessage::Proposal(p) => Input::Proposal(p),
                    SignedMessage::Vote(v) => Input::Vote(v),
                }
            }
        };
        let incarnation = h.incarnation;
        self.feed(to, incarnation, input)
    }

    fn handle_outputs(&mut self, node: usize, outputs: Vec<Output<Ctx>>) -> Result<(), Violation> {
        let mut work: VecDeque<Output<Ctx>> = outputs.into();
        while let Some(output) = work.pop_front() {
            if self.trace {
                eprintln!("{:>6} node {node}: {output:?}", self.now);
            }
            let incarnation = self.honest[node].as_ref().unwrap().incarnation;
            match output {
                Output::PersistAndBroadcast(message) => {
                    let key = (node, message.height(), message.round().0, message.step());
                    match self.signed.get(&key) {
                        Some(earlier) if *earlier != message => {
                            return Err(violation(
                                "no conflicting signatures",
                                format!(
                                    "node {node} signed {earlier:?} and then {message:?} at {} ms",
                                    self.now
                                ),
                            ));
                        }
                        _ => {
                            self.signed.insert(key, message.clone());
                        }
                    }
                    self.honest[node]
                        .as_mut()
                        .unwrap()
                        .wal
                        .push(message.clone());
                    self.broadcast(node, &message);
                }
                Output::Broadcast(message) => self.broadcast(node, &message),
                Output::ScheduleTimeout { timeout, duration } => {
                    let at = self.now + duration.as_millis() as u64;
                    self.schedule(
                        at,
                        Event::Timeout {
                            node,
                            incarnation,
                            timeout,
                        },
                    );
                }
                Output::RequestValue { height, round } => {
                    let at = self.now + self.rng.gen_range(0..=3);
                    self.schedule(
                        at,
                        Event::ProposeValue {
                            node,
                            incarnation,
                            height,
                            round: round.0,
                        },
                    );
                }
                Output::ValidateValue { height, value, .. } => {
                    let at = self.now + self.rng.gen_range(0..=3);
                    self.schedule(
                        at,
                        Event::Validity {
                            node,
                            incarnation,
                            height,
                            value,
                        },
                    );
                }
                Output::Decide(certificate) => {
                    let more = self.on_decide(node, certificate)?;
                    work.extend(more);
                }
                Output::Evidence(evidence) => {
                    let height = evidence.height();
                    if let Err(e) = evidence.verify(CHAIN_ID, &self.sets[height as usize]) {
                        return Err(violation(
                            "evidence verifies",
                            format!("node {node} reported {evidence:?}: {e}"),
                        ));
                    }
                    let slot = (
                        height,
                        evidence.round().0,
                        evidence.step(),
                        *evidence.offender(),
                    );
                    self.reported.insert((node, slot));
                }
            }
        }
        Ok(())
    }

    /// Checks a decision, records it, and starts the next height. Returns the new height's outputs.
    fn on_decide(
        &mut self,
        node: usize,
        certificate: CommitCertificate<Ctx>,
    ) -> Result<Vec<Output<Ctx>>, Violation> {
        let height = certificate.height;
        let value = certificate.value;
        if let Err(e) = certificate.verify(CHAIN_ID, &self.sets[height as usize]) {
            return Err(violation(
                "certificate verifies",
                format!("node {node} decided height {height} with a bad certificate: {e}"),
            ));
        }
        if !is_valid(value) {
            return Err(violation(
                "validity",
                format!("node {node} decided invalid value {value:#x} at height {height}"),
            ));
        }
        match self.decisions.get(&height) {
            Some((other, decided)) if *decided != value => {
                return Err(violation(
                    "agreement",
                    format!(
                        "height {height}: node {other} decided {decided:#x}, node {node} decided \
                         {value:#x} (round {}) at {} ms",
                        certificate.round, self.now
                    ),
                ));
            }
            Some(_) => {}
            None => {
                self.decisions.insert(height, (node, value));
            }
        }
        let next = height + 1;
        while self.sets.len() <= next as usize {
            let last = self.sets[self.sets.len() - 1].next_height();
            self.sets.push(last);
        }
        let validators = self.sets[next as usize].clone();
        let h = self.honest[node].as_mut().unwrap();
        h.certificates.insert(height, certificate);
        h.wal.clear();
        h.relay.retain(|m| m.height() > height);
        h.relayed.retain(|m| m.height() > height);
        let core = h.core.as_mut().unwrap();
        Ok(core
            .apply(Input::StartHeight {
                height: next,
                validators,
                wal: Vec::new(),
            })
            .unwrap())
    }
}
