#!/usr/bin/env bash
# Starts a local Cairn devnet. The node is not built yet: the validator node (networking,
# mempool, consensus driver) is the next piece of work. Until it lands this script says so.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "devnet: the cairn node is not built yet, so there is no devnet to start." >&2
echo "devnet: what works today is the ledger and the consensus core; run scripts/test.sh." >&2
exit 1
