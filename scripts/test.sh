#!/usr/bin/env bash
# Set up (see setup.sh), then run the whole check: ruff lint, ruff format check, mypy, pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
VENV=${VENV:-.venv}
"$VENV/bin/ruff" check src tests benchmarks examples scripts
"$VENV/bin/ruff" format --check src tests benchmarks examples scripts
"$VENV/bin/mypy"
"$VENV/bin/pytest" -q "$@"
