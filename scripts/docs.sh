#!/usr/bin/env bash
# Set up (venv with the docs extra) and build the documentation into site/: the user guide
# (README, docs/, BENCHMARKS.md as HTML pages mirroring the repository) and the API reference
# generated from the docstrings (site/api/). Open site/index.html.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BITROBUST_EXTRAS=docs source "$ROOT/scripts/setup.sh"
cd "$ROOT"
"$VENV/bin/python" scripts/build_site.py site "$@"
