#!/usr/bin/env bash
# Sourced by the other commands: where the MMAR is and which clara-tlt runs it (Clara 4.x's set_env.sh set
# MMAR_ROOT and the PYTHONPATH of medl). Set CLARA_TLT to another clara-tlt to use it.
MMAR_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export MMAR_ROOT
CLARA_TLT=${CLARA_TLT:-clara-tlt}
ENVIRONMENT_FILE=config/environment.json
