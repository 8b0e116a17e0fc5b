//! The `cairn` binary: a Cairn validator node.
//!
//! Not built yet: networking, the mempool, the consensus driver and block sync arrive with the node
//! issue. Until then the binary says so and exits with a failure status.

fn main() -> std::process::ExitCode {
    eprintln!("cairn: the node is not built yet; see the README for what works today");
    std::process::ExitCode::FAILURE
}
