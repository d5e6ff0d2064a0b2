#!/usr/bin/env bash
# Set up (see setup.sh), then run the example pipeline on synthetic data it makes itself.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
VENV=${VENV:-.venv} bash examples/pipeline.sh "$@"
