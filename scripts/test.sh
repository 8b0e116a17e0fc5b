#!/usr/bin/env bash
# Runs Cairn's whole test suite on a machine that has only the Rust toolchain: installs what the
# build needs, then builds and runs every test of every crate (unit, property, simulation and
# crash-consistency tests). Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-deps.sh
cargo test --workspace --locked "$@"
