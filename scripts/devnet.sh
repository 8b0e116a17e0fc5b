#!/usr/bin/env bash
# Starts a local Cairn devnet: builds `cairn` in release mode, generates a devnet (4 validators by
# default) under a data directory, starts every node as its own process on loopback, prints where
# each listens and the funded test keys, shows the chain's progress, and stops every node it
# started on Ctrl-C or SIGTERM.
#
#   scripts/devnet.sh [--validators N] [--accounts M] [--data-dir DIR] [--base-port P] [--reset]
#
# Node i serves JSON-RPC on P+i (8545+i by default), peers on P+100+i (TCP and QUIC) and metrics
# on P+200+i. DIR/devnet.json lists the nodes (RPC URL, metrics URL, p2p address, pid) and the
# funded test accounts with their secret keys (for tests only). An existing devnet in DIR is
# restarted as it is; --reset deletes it first.
set -euo pipefail

validators=4
accounts=16
data_dir=./devnet
base_port=8545
reset=0

usage() {
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
  case "$1" in
    --validators) validators="${2:?--validators needs a number}"; shift 2 ;;
    --accounts) accounts="${2:?--accounts needs a number}"; shift 2 ;;
    --data-dir) data_dir="${2:?--data-dir needs a directory}"; shift 2 ;;
    --base-port) base_port="${2:?--base-port needs a port}"; shift 2 ;;
    --reset) reset=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "devnet: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
for number in "$validators" "$accounts" "$base_port"; do
  case "$number" in
    ''|*[!0-9]*) echo "devnet: '$number' is not a number" >&2; exit 2 ;;
  esac
done

root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/ensure-deps.sh"
echo "devnet: building cairn (release; the first build compiles RocksDB and takes a while)" >&2
(cd "$root" && cargo build --release --locked --bin cairn)
target_dir="${CARGO_TARGET_DIR:-$root/target}"
cairn="$target_dir/release/cairn"

if [ "$reset" -eq 1 ]; then
  rm -rf "$data_dir"
fi
if [ ! -f "$data_dir/genesis.json" ]; then
  "$cairn" genesis devnet --validators "$validators" --accounts "$accounts" \
    --out "$data_dir" --base-port "$base_port"
else
  echo "devnet: restarting the devnet in $data_dir (--reset starts a new one)" >&2
fi

pids=()
stop() {
  trap - INT TERM EXIT
  if [ ${#pids[@]} -gt 0 ]; then
    echo "devnet: stopping ${#pids[@]} nodes" >&2
    kill -TERM "${pids[@]}" 2>/dev/null || true
    # Give each node time to flush, then make sure.
    for _ in $(seq 1 50); do
      alive=0
      for pid in "${pids[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then alive=1; fi
      done
      [ "$alive" -eq 0 ] && break
      sleep 0.2
    done
    kill -KILL "${pids[@]}" 2>/dev/null || true
  fi
  exit 0
}
trap stop INT TERM EXIT

# Keep freed memory mapped (reset, not decommitted): see docs/operations.md, "Memory".
export MIMALLOC_PURGE_DECOMMITS="${MIMALLOC_PURGE_DECOMMITS:-0}"
node=0
while [ -d "$data_dir/nodes/$node" ]; do
  home="$data_dir/nodes/$node"
  "$cairn" start --home "$home" >>"$home/node.log" 2>&1 &
  pids+=("$!")
  node=$((node + 1))
done
pid_list="$(IFS=,; echo "${pids[*]}")"
"$cairn" genesis manifest --dir "$data_dir" --pids "$pid_list"

echo
echo "Cairn devnet: ${#pids[@]} nodes (manifest: $data_dir/devnet.json)"
for ((i = 0; i < ${#pids[@]}; i++)); do
  echo "  node$i  rpc http://127.0.0.1:$((base_port + i))  metrics http://127.0.0.1:$((base_port + 200 + i))/metrics  p2p /ip4/127.0.0.1/tcp/$((base_port + 100 + i))  pid ${pids[$i]}  log $data_dir/nodes/$i/node.log"
done
echo
echo "Funded test accounts (address, secret key; for tests only):"
grep -E '"(address|secret_key)"' "$data_dir/accounts.json" | sed -e 's/[",]//g' -e 's/^ *//' | paste - - | head -n 4 | sed 's/^/  /'
echo "  … all of them in $data_dir/accounts.json"
echo
echo "Press Ctrl-C to stop."

last=""
while true; do
  for ((i = 0; i < ${#pids[@]}; i++)); do
    if ! kill -0 "${pids[$i]}" 2>/dev/null; then
      echo "devnet: node$i (pid ${pids[$i]}) exited; see $data_dir/nodes/$i/node.log" >&2
      stop
    fi
  done
  line="$(grep 'committed block' "$data_dir/nodes/0/node.log" 2>/dev/null | tail -n 1 || true)"
  if [ -n "$line" ] && [ "$line" != "$last" ]; then
    height="$(echo "$line" | sed -n 's/.*height=\([0-9]*\).*/\1/p')"
    txs="$(echo "$line" | sed -n 's/.*txs=\([0-9]*\).*/\1/p')"
    echo "$(date +%T) height ${height:-?}  txs in last block ${txs:-?}"
    last="$line"
  fi
  sleep 2
done
