#!/usr/bin/env bash
# Create .venv (once) and install bitrobust into it. Sourced by quickstart.sh and test.sh.
# Where no NVIDIA GPU is present, PyTorch's CPU build is installed first, so pip does
# not pull several GB of CUDA packages.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
VENV="${BITROBUST_VENV:-$ROOT/.venv}"
TORCH_VERSION="${BITROBUST_TORCH_VERSION:-2.13.0}"
export PIP_DISABLE_PIP_VERSION_CHECK=1

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip -q)

if ! "$VENV/bin/python" -c "import torch" >/dev/null 2>&1; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
    echo "[setup] installing torch==$TORCH_VERSION (GPU found)"
    "${PIP[@]}" install "torch==$TORCH_VERSION"
  else
    echo "[setup] installing torch==$TORCH_VERSION, CPU build (no GPU found)"
    "${PIP[@]}" install --retries 0 --timeout 15 "torch==$TORCH_VERSION" \
      --extra-index-url https://download.pytorch.org/whl/cpu
  fi
fi
echo "[setup] installing bitrobust${BITROBUST_EXTRAS:+[$BITROBUST_EXTRAS]}"
"${PIP[@]}" install -e "$ROOT${BITROBUST_EXTRAS:+[$BITROBUST_EXTRAS]}" 2>&1 | grep -v "^WARNING: Location" || true
"$VENV/bin/python" -c "import bitrobust" # fail loudly if the install did not work
