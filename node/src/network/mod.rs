//! Networking on libp2p: TCP and QUIC with Noise and Yamux, identify, ping, Kademlia discovery,
//! gossipsub topics for consensus messages and for transactions, and the block-sync
//! request-response protocol.
//!
//! The swarm lives in one task ([`Network::run`]); the rest of the node talks to it through
//! [`NetCommand`]s and hears from it through [`NetEvent`]s. Gossip is validated before it is
//! forwarded: gossipsub holds each message until the node reports a verdict
//! ([`NetCommand::Validated`]). A peer whose messages are rejected too often is disconnected and
//! refused for a while; a peer that sends more messages per second than allowed has the excess
//! ignored. Persistent peers are redialled with exponential backoff.

mod codec;

use std::{
    collections::{HashMap, HashSet},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

pub use codec::{SyncCodec, MAX_RESPONSE_BYTES, SYNC_PROTOCOL};
use futures::StreamExt;
use libp2p::{
    connection_limits, gossipsub, identify,
    identity::Keypair,
    kad, noise, ping,
    request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel},
    swarm::{NetworkBehaviour, SwarmEvent},
    tcp, yamux, Multiaddr, PeerId, StreamProtocol, Swarm,
};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use crate::{
    config::{peer_id_of, P2pConfig},
    error::NodeError,
    wire::{SyncRequest, SyncResponse},
};

/// How long a peer that sent too many invalid messages is refused.
const BAN_DURATION: Duration = Duration::from_secs(60);
/// Redial backoff bounds for persistent peers.
const REDIAL_MIN: Duration = Duration::from_millis(500);
const REDIAL_MAX: Duration = Duration::from_secs(30);
/// Bound on the channels into the node; a full channel drops gossip (peers re-send) rather than
/// stalling the swarm.
const EVENT_CHANNEL: usize = 4096;

/// Which gossip topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Topic {
    Consensus,
    Transactions,
}

impl Topic {
    fn name(self, chain_id: &str) -> String {
        match self {
            Topic::Consensus => format!("/cairn/{chain_id}/consensus/1"),
            Topic::Transactions => format!("/cairn/{chain_id}/txs/1"),
        }
    }
}

/// What a gossip message deserves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Valid: forward it.
    Accept,
    /// Not useful now (stale, duplicate, unchecked): do not forward, no penalty.
    Ignore,
    /// Invalid: do not forward, and count it against the peer that sent it.
    Reject,
}

/// A gossip message's identity for [`NetCommand::Validated`].
#[derive(Clone, Debug)]
pub struct GossipId {
    id: gossipsub::MessageId,
    source: PeerId,
}

impl GossipId {
    pub fn source(&self) -> PeerId {
        self.source
    }
}

/// From the node to the network task.
#[derive(Debug)]
pub enum NetCommand {
    Publish {
        topic: Topic,
        data: Vec<u8>,
    },
    Validated {
        id: GossipId,
        verdict: Verdict,
    },
    Request {
        peer: PeerId,
        request: SyncRequest,
    },
    Respond {
        channel: ResponseChannel<SyncResponse>,
        response: SyncResponse,
    },
}

/// From the network task to the node.
#[derive(Debug)]
pub enum NetEvent {
    Gossip {
        topic: Topic,
        id: GossipId,
        data: Vec<u8>,
    },
    /// A peer asks for blocks or status; answer with [`NetCommand::Respond`].
    SyncRequest {
        peer: PeerId,
        request: SyncRequest,
        channel: ResponseChannel<SyncResponse>,
    },
    SyncResponse {
        peer: PeerId,
        request: SyncRequest,
        response: SyncResponse,
    },
    SyncFailed {
        peer: PeerId,
        request: SyncRequest,
    },
    PeerConnected(PeerId),
    PeerDisconnected(PeerId),
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    limits: connection_limits::Behaviour,
    gossipsub: gossipsub::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    kad: kad::Behaviour<kad::store::MemoryStore>,
    sync: request_response::Behaviour<SyncCodec>,
}

/// Where the network delivers what it hears.
#[derive(Debug, Clone)]
pub struct NetSinks {
    /// Consensus gossip, sync responses and peer changes: the consensus driver.
    pub consensus: mpsc::Sender<NetEvent>,
    /// Transaction gossip: the transaction ingress.
    pub transactions: mpsc::Sender<NetEvent>,
    /// Sync requests from peers: the sync server.
    pub sync_server: mpsc::Sender<NetEvent>,
}

/// A handle others hold on the network task.
#[derive(Debug, Clone)]
pub struct NetHandle {
    commands: mpsc::Sender<NetCommand>,
    peers: Arc<AtomicUsize>,
    pub local_peer_id: PeerId,
}

impl NetHandle {
    /// Queues a command; fails only when the network task is gone.
    pub async fn send(&self, command: NetCommand) -> Result<(), NodeError> {
        self.commands
            .send(command)
            .await
            .map_err(|_| NodeError::Network("the network task has stopped".into()))
    }

    /// Queues a command without waiting; drops it when the queue is full (gossip re-sends).
    pub fn try_send(&self, command: NetCommand) -> bool {
        self.commands.try_send(command).is_ok()
    }

    pub fn peer_count(&self) -> usize {
        self.peers.load(Ordering::Relaxed)
    }
}

struct PeerState {
    invalid_messages: u32,
    window_start: Instant,
    messages_in_window: u32,
}

struct Redial {
    address: Multiaddr,
    next_attempt: Instant,
    backoff: Duration,
}

/// The network task's state.
pub struct Network {
    swarm: Swarm<Behaviour>,
    config: P2pConfig,
    topics: HashMap<gossipsub::TopicHash, Topic>,
    chain_id: String,
    commands: mpsc::Receiver<NetCommand>,
    sinks: NetSinks,
    peers: Arc<AtomicUsize>,
    connected: HashSet<PeerId>,
    peer_state: HashMap<PeerId, PeerState>,
    banned: HashMap<PeerId, Instant>,
    persistent: HashMap<PeerId, Redial>,
    pending_requests: HashMap<OutboundRequestId, (PeerId, SyncRequest)>,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("local_peer_id", self.swarm.local_peer_id())
            .field("peers", &self.connected.len())
            .finish_non_exhaustive()
    }
}

fn other(error: impl std::fmt::Display) -> NodeError {
    NodeError::Network(error.to_string())
}

impl Network {
    /// Builds the swarm and starts listening. Returns the task's state and a handle on it.
    pub fn new(
        key: Keypair,
        chain_id: &str,
        config: P2pConfig,
        sinks: NetSinks,
    ) -> Result<(Network, NetHandle), NodeError> {
        let local_peer_id = key.public().to_peer_id();
        let max_message_bytes = config.max_message_bytes;
        let max_peers = config.max_peers;
        let kad_protocol =
            StreamProtocol::try_from_owned(format!("/cairn/{chain_id}/kad/1")).map_err(other)?;
        let identify_protocol = format!("/cairn/{chain_id}/1");
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(other)?
            .with_quic()
            .with_behaviour(|key| {
                let gossip_config = gossipsub::ConfigBuilder::default()
                    .max_transmit_size(max_message_bytes)
                    .validation_mode(gossipsub::ValidationMode::Strict)
                    .validate_messages()
                    .heartbeat_interval(Duration::from_millis(500))
                    .message_id_fn(|message: &gossipsub::Message| {
                        gossipsub::MessageId::from(&Sha256::digest(&message.data)[..20])
                    })
                    .build()
                    .map_err(|error| error.to_string())?;
                let gossipsub = gossipsub::Behaviour::new(
                    gossipsub::MessageAuthenticity::Signed(key.clone()),
                    gossip_config,
                )?;
                let peer_id = key.public().to_peer_id();
                let mut kad_config = kad::Config::new(kad_protocol);
                kad_config.set_query_timeout(Duration::from_secs(30));
                let kad = kad::Behaviour::with_config(
                    peer_id,
                    kad::store::MemoryStore::new(peer_id),
                    kad_config,
                );
                let limits = connection_limits::Behaviour::new(
                    connection_limits::ConnectionLimits::default()
                        .with_max_established(Some(max_peers.saturating_mul(2)))
                        .with_max_established_per_peer(Some(2))
                        .with_max_pending_incoming(Some(max_peers))
                        .with_max_pending_outgoing(Some(max_peers)),
                );
                Ok(Behaviour {
                    limits,
                    gossipsub,
                    identify: identify::Behaviour::new(identify::Config::new(
                        identify_protocol,
                        key.public(),
                    )),
                    ping: ping::Behaviour::default(),
                    kad,
                    sync: request_response::Behaviour::with_codec(
                        SyncCodec,
                        [(SYNC_PROTOCOL, ProtocolSupport::Full)],
                        request_response::Config::default()
                            .with_request_timeout(Duration::from_secs(20))
                            .with_max_concurrent_streams(64),
                    ),
                })
            })
            .map_err(other)?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
            .build();

        swarm.behaviour_mut().kad.set_mode(Some(kad::Mode::Server));
        let mut topics = HashMap::new();
        for topic in [Topic::Consensus, Topic::Transactions] {
            let ident = gossipsub::IdentTopic::new(topic.name(chain_id));
            swarm
                .behaviour_mut()
                .gossipsub
                .subscribe(&ident)
                .map_err(other)?;
            topics.insert(ident.hash(), topic);
        }
        for address in &config.listen {
            swarm.listen_on(address.clone()).map_err(|error| {
                NodeError::Network(format!("cannot listen on {address}: {error}"))
            })?;
        }
        let now = Instant::now();
        let mut persistent = HashMap::new();
        for address in &config.persistent_peers {
            if let Some(peer) = peer_id_of(address) {
                if peer == local_peer_id {
                    continue;
                }
                swarm
                    .behaviour_mut()
                    .kad
                    .add_address(&peer, address.clone());
                persistent.insert(
                    peer,
                    Redial {
                        address: address.clone(),
                        next_attempt: now,
                        backoff: REDIAL_MIN,
                    },
                );
            }
        }

        let (command_tx, commands) = mpsc::channel(EVENT_CHANNEL);
        let peers = Arc::new(AtomicUsize::new(0));
        let handle = NetHandle {
            commands: command_tx,
            peers: peers.clone(),
            local_peer_id,
        };
        Ok((
            Network {
                swarm,
                config,
                topics,
                chain_id: chain_id.into(),
                commands,
                sinks,
                peers,
                connected: HashSet::new(),
                peer_state: HashMap::new(),
                banned: HashMap::new(),
                persistent,
                pending_requests: HashMap::new(),
            },
            handle,
        ))
    }

    /// Runs until `shutdown` turns true or every command sender is gone.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let mut bootstrap = tokio::time::interval(Duration::from_secs(30));
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                command = self.commands.recv() => match command {
                    Some(command) => self.on_command(command),
                    None => break,
                },
                _ = tick.tick() => self.redial(),
                _ = bootstrap.tick() => {
                    if self.config.discovery && !self.connected.is_empty() {
                        // No known peers yet is the only error; the next tick retries.
                        let _ = self.swarm.behaviour_mut().kad.bootstrap();
                    }
                }
            }
        }
        debug!(chain = %self.chain_id, "network task stopped");
    }

    fn redial(&mut self) {
        let now = Instant::now();
        self.banned.retain(|_, until| *until > now);
        let mut due = Vec::new();
        for (peer, redial) in &mut self.persistent {
            if self.connected.contains(peer) || redial.next_attempt > now {
                continue;
            }
            due.push(redial.address.clone());
            redial.next_attempt = now + redial.backoff;
            redial.backoff = (redial.backoff * 2).min(REDIAL_MAX);
        }
        for address in due {
            if let Err(error) = self.swarm.dial(address.clone()) {
                debug!(%address, %error, "dial failed");
            }
        }
    }

    fn on_command(&mut self, command: NetCommand) {
        match command {
            NetCommand::Publish { topic, data } => {
                let ident = gossipsub::IdentTopic::new(topic.name(&self.chain_id));
                if let Err(error) = self.swarm.behaviour_mut().gossipsub.publish(ident, data) {
                    // No peers yet, or a duplicate: the driver re-sends what matters.
                    debug!(?topic, %error, "publish failed");
                }
            }
            NetCommand::Validated { id, verdict } => {
                let acceptance = match verdict {
                    Verdict::Accept => gossipsub::MessageAcceptance::Accept,
                    Verdict::Ignore => gossipsub::MessageAcceptance::Ignore,
                    Verdict::Reject => gossipsub::MessageAcceptance::Reject,
                };
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&id.id, &id.source, acceptance);
                if verdict == Verdict::Reject {
                    self.penalise(id.source);
                }
            }
            NetCommand::Request { peer, request } => {
                let id = self
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_request(&peer, request.clone());
                self.pending_requests.insert(id, (peer, request));
            }
            NetCommand::Respond { channel, response } => {
                // The requester may have gone; nothing to do then.
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_response(channel, response);
            }
        }
    }

    fn penalise(&mut self, peer: PeerId) {
        let limit = self.config.max_invalid_messages;
        let state = self.peer_state.entry(peer).or_insert_with(|| PeerState {
            invalid_messages: 0,
            window_start: Instant::now(),
            messages_in_window: 0,
        });
        state.invalid_messages = state.invalid_messages.saturating_add(1);
        if state.invalid_messages > limit {
            warn!(%peer, invalid = state.invalid_messages, "peer sent too many invalid messages; disconnecting");
            self.banned.insert(peer, Instant::now() + BAN_DURATION);
            self.peer_state.remove(&peer);
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    /// True when the peer is within its message rate.
    fn within_rate(&mut self, peer: PeerId) -> bool {
        let limit = self.config.max_messages_per_peer_per_second;
        let now = Instant::now();
        let state = self.peer_state.entry(peer).or_insert_with(|| PeerState {
            invalid_messages: 0,
            window_start: now,
            messages_in_window: 0,
        });
        if now.duration_since(state.window_start) >= Duration::from_secs(1) {
            state.window_start = now;
            state.messages_in_window = 0;
        }
        state.messages_in_window = state.messages_in_window.saturating_add(1);
        state.messages_in_window <= limit
    }

    fn deliver(sink: &mpsc::Sender<NetEvent>, event: NetEvent) -> bool {
        sink.try_send(event).is_ok()
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                info!(%address, "listening");
            }
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } => {
                if self.banned.contains_key(&peer_id) {
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    return;
                }
                if self.connected.len() >= self.config.max_peers as usize
                    && !self.connected.contains(&peer_id)
                    && !self.persistent.contains_key(&peer_id)
                {
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    return;
                }
                if self.connected.insert(peer_id) {
                    debug!(peer = %peer_id, address = %endpoint.get_remote_address(), "peer connected");
                    self.peers.store(self.connected.len(), Ordering::Relaxed);
                    let _ = Self::deliver(&self.sinks.consensus, NetEvent::PeerConnected(peer_id));
                }
                if let Some(redial) = self.persistent.get_mut(&peer_id) {
                    redial.backoff = REDIAL_MIN;
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                ..
            } if num_established == 0 && self.connected.remove(&peer_id) => {
                debug!(peer = %peer_id, "peer disconnected");
                self.peers.store(self.connected.len(), Ordering::Relaxed);
                let _ = Self::deliver(&self.sinks.consensus, NetEvent::PeerDisconnected(peer_id));
                if let Some(redial) = self.persistent.get_mut(&peer_id) {
                    redial.next_attempt = Instant::now() + redial.backoff;
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => self.on_gossip(propagation_source, message_id, message),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) if self.config.discovery => {
                for address in info.listen_addrs {
                    if is_dialable(&address) {
                        self.swarm
                            .behaviour_mut()
                            .kad
                            .add_address(&peer_id, address);
                    }
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Kad(kad::Event::RoutingUpdated {
                peer,
                addresses,
                ..
            })) if self.config.discovery
                && peer != *self.swarm.local_peer_id()
                && !self.connected.contains(&peer)
                && !self.banned.contains_key(&peer)
                && self.connected.len() < self.config.max_peers as usize =>
            {
                let address = addresses.first().clone();
                let _ = self.swarm.dial(address);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sync(event)) => self.on_sync_event(event),
            _ => {}
        }
    }

    fn on_gossip(
        &mut self,
        source: PeerId,
        message_id: gossipsub::MessageId,
        message: gossipsub::Message,
    ) {
        let id = GossipId {
            id: message_id,
            source,
        };
        let Some(topic) = self.topics.get(&message.topic).copied() else {
            self.validated(id, Verdict::Reject);
            return;
        };
        if !self.within_rate(source) {
            self.validated(id, Verdict::Ignore);
            return;
        }
        let sink = match topic {
            Topic::Consensus => &self.sinks.consensus,
            Topic::Transactions => &self.sinks.transactions,
        };
        let event = NetEvent::Gossip {
            topic,
            id: id.clone(),
            data: message.data,
        };
        if !Self::deliver(sink, event) {
            // The node is busy: let gossip's own repetition bring it again.
            self.validated(id, Verdict::Ignore);
        }
    }

    fn validated(&mut self, id: GossipId, verdict: Verdict) {
        self.on_command(NetCommand::Validated { id, verdict });
    }

    fn on_sync_event(&mut self, event: request_response::Event<SyncRequest, SyncResponse>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    let _ = Self::deliver(
                        &self.sinks.sync_server,
                        NetEvent::SyncRequest {
                            peer,
                            request,
                            channel,
                        },
                    );
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some((peer, request)) = self.pending_requests.remove(&request_id) {
                        let _ = Self::deliver(
                            &self.sinks.consensus,
                            NetEvent::SyncResponse {
                                peer,
                                request,
                                response,
                            },
                        );
                    }
                }
            },
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => {
                if let Some((peer, request)) = self.pending_requests.remove(&request_id) {
                    debug!(%peer, %error, "sync request failed");
                    let _ = Self::deliver(
                        &self.sinks.consensus,
                        NetEvent::SyncFailed { peer, request },
                    );
                }
            }
            _ => {}
        }
    }
}

/// Addresses worth adding to the routing table: not unspecified (0.0.0.0).
fn is_dialable(address: &Multiaddr) -> bool {
    !address.iter().any(|protocol| match protocol {
        libp2p::multiaddr::Protocol::Ip4(ip) => ip.is_unspecified(),
        libp2p::multiaddr::Protocol::Ip6(ip) => ip.is_unspecified(),
        _ => false,
    })
}
