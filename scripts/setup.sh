#!/usr/bin/env bash
# Create .venv and install clara-tlt with its dev extras. A second run reinstalls nothing unless
# pyproject.toml changed. Without a GPU, the CPU build of torch goes in first (otherwise pip would
# fetch a multi-GB CUDA build); set CLARA_TLT_TORCH to choose another torch requirement.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
stamp="$VENV/.clara-tlt-installed"
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$VENV/bin/python" -c "import clara_tlt" 2>/dev/null; then
  exit 0
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
pip() { "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@"; }
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    pip install "${CLARA_TLT_TORCH:-torch}"
  else
    pip install "${CLARA_TLT_TORCH:-torch==2.13.0}"
  fi
fi
pip install -e ".[dev]"
echo "$want" > "$stamp"
echo "clara-tlt installed in $VENV"
