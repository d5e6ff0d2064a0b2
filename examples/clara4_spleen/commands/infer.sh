#!/usr/bin/env bash
# Segment the INFER_DATALIST_KEY list with the checkpoint at MMAR_CKPT; SaveImaged writes the labels to
# MMAR_EVAL_OUTPUT_PATH (Clara 4.x: python -m medl.apps.evaluate … -c config/config_inference.json).
set -euo pipefail
. "$(dirname "$0")/set_env.sh"
"$CLARA_TLT" infer -m "$MMAR_ROOT" -c config/config_inference.json -e "$ENVIRONMENT_FILE" "$@"
