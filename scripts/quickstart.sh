#!/usr/bin/env bash
# Set up (venv, CPU PyTorch where there is no GPU) and run the quickstart: train a small
# CNN on MNIST, measure its robust error under bit errors, write results and a plot.
# Extra arguments go to `bitrobust quickstart` (e.g. --out DIR, --chips 50).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
if [ -z "${BITROBUST_DATA:-}" ] && [ -d "$ROOT/../shared/data" ]; then
  export BITROBUST_DATA="$ROOT/../shared/data"
fi
cd "$ROOT"
exec "$VENV/bin/bitrobust" quickstart "$@"
