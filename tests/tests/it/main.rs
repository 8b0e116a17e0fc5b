//! End-to-end tests: real `cairn` processes on loopback, driven over JSON-RPC.

mod devnet;
mod evidence;
mod rpc;
mod wallet;
