#!/usr/bin/env bash
# Set up (venv with the docs extra) and build the documentation into site/:
# the user guide (README + docs/*.md, module bitrobust.guide) and the API reference
# generated from the docstrings. Open site/index.html.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BITROBUST_EXTRAS=docs source "$ROOT/scripts/setup.sh"
cd "$ROOT"
rm -rf site
"$VENV/bin/pdoc" bitrobust --math -o site "$@"
echo "documentation written to $ROOT/site (open site/index.html; the guide is site/bitrobust/guide.html)"
