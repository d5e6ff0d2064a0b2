#!/usr/bin/env bash
# Export the trained network to TorchScript (model.ts) and ONNX beside the checkpoint, each checked against
# PyTorch (Clara 4.x: python -m medl.apps.export, checkpoint → TorchScript).
set -euo pipefail
. "$(dirname "$0")/set_env.sh"
"$CLARA_TLT" export -m "$MMAR_ROOT" -c config/config_train.json -e "$ENVIRONMENT_FILE" \
  --model_file_path ../work/clara4_models --model_name model "$@"
