#!/usr/bin/env bash
# Validate the checkpoint at MMAR_CKPT on the validation list: metrics and MetricsSaver's reports in
# MMAR_EVAL_OUTPUT_PATH (Clara 4.x: python -m medl.apps.evaluate … -c config/config_validation.json).
set -euo pipefail
. "$(dirname "$0")/set_env.sh"
"$CLARA_TLT" evaluate -m "$MMAR_ROOT" -c config/config_validation.json -e "$ENVIRONMENT_FILE" "$@"
