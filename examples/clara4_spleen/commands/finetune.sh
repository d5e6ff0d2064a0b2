#!/usr/bin/env bash
# Fine-tune from the checkpoint at MMAR_CKPT: the same config with its CheckpointLoader handler enabled.
set -euo pipefail
. "$(dirname "$0")/set_env.sh"
"$CLARA_TLT" train -m "$MMAR_ROOT" -c config/config_train.json -e "$ENVIRONMENT_FILE" \
  --set dont_load_ckpt_model=false "$@"
