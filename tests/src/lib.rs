//! End-to-end tests of Cairn that start real node processes on loopback.
//!
//! Empty until the node exists: the node issue adds the devnet tests here.
