#!/usr/bin/env bash
# Set up (venv with test extras, CPU PyTorch where there is no GPU) and run the tests.
# Extra arguments go to pytest (e.g. -m slow for the long tests, -k NAME).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BITROBUST_EXTRAS=test source "$ROOT/scripts/setup.sh"
if [ -z "${BITROBUST_DATA:-}" ] && [ -d "$ROOT/../shared/data" ]; then
  export BITROBUST_DATA="$ROOT/../shared/data"
fi
cd "$ROOT"
exec "$VENV/bin/python" -m pytest "$@"
