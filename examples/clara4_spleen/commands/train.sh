#!/usr/bin/env bash
# Train from scratch (Clara 4.x: python -m medl.apps.train -m $MMAR_ROOT -c config/config_train.json -e …).
# Extra arguments go to clara-tlt, e.g. --set epochs=2 crop_size=[32,32,32] roi_size=[32,32,32].
set -euo pipefail
. "$(dirname "$0")/set_env.sh"
"$CLARA_TLT" train -m "$MMAR_ROOT" -c config/config_train.json -e "$ENVIRONMENT_FILE" \
  --set dont_load_ckpt_model=true "$@"
