//! The Cairn validator node: everything around the consensus core and the ledger that needs a
//! clock, a disk or a network.
//!
//! # What this crate owns
//!
//! - [`config`]: the home directory, `config.toml`, node keys.
//! - [`network`]: libp2p (TCP and QUIC, Noise, Yamux, identify, Kademlia, gossipsub, the block-sync
//!   request-response protocol), in one task behind channels.
//! - [`mempool`]: admission, ordering, limits and rechecks of pending transactions.
//! - [`driver`]: the consensus driver (timers, the write-ahead log, proposing, validating and
//!   committing blocks) and block sync.
//! - [`wal`]: the consensus write-ahead log on disk.
//! - [`ingress`]: transaction gossip in and out, and the block-sync server.
//! - [`rpc_backend`]: what the JSON-RPC server reads and submits through.
//! - [`metrics`]: Prometheus metrics and their endpoint.
//! - [`service`]: starting and stopping a node.
//! - [`wallet`]: `cairn wallet`: encrypted keystores, BIP-39/SLIP-0010 keys, balances verified
//!   against the genesis.
//!
//! # What it does not own
//!
//! The rules: what a valid transaction, block or state is belongs to `cairn-ledger`; how validators
//! agree belongs to `cairn-consensus`; the JSON API belongs to `cairn-rpc`; the genesis format to
//! `cairn-genesis`. This crate carries out their effects.

#![forbid(unsafe_code)]

pub mod config;
pub mod context;
pub mod driver;
pub mod error;
pub mod evidence;
pub mod ingress;
pub mod mempool;
pub mod metrics;
pub mod network;
pub mod rpc_backend;
pub mod service;
pub mod shared;
pub mod wal;
pub mod wallet;
pub mod wire;

pub use error::NodeError;
