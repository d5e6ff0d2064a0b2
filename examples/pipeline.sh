#!/usr/bin/env bash
# The example pipeline on synthetic data it makes itself:
#   make data (NIfTI + DICOM) → dataconvert (DICOM → NIfTI, resampled to 1.5 mm) → train → evaluate → infer → export
#   → MONAI bundle.
set -euo pipefail
cd "$(dirname "$0")"
BIN=${VENV:+../$VENV/bin/}
BIN=${BIN:-../.venv/bin/}
WORK=work
rm -rf "$WORK" && mkdir -p "$WORK"

echo "== 1. make synthetic CT data (4 training + 2 validation cases, also as DICOM series)"
"${BIN}python" -m clara_tlt.synthetic "$WORK/data" --train 4 --val 2 --dicom

echo "== 2. dataconvert: DICOM series → NIfTI at 1.5 mm isotropic; labels with -l (nearest neighbour)"
"${BIN}tlt-dataconvert" -d "$WORK/data/dicom" -r 1.5 -s .dcm -e .nii.gz -o "$WORK/converted_dicom"
"${BIN}tlt-dataconvert" -d "$WORK/data/imagesTr" -r 1.5 -s .nii.gz -e .nii.gz -o "$WORK/data_1.5mm/imagesTr"
"${BIN}tlt-dataconvert" -l -d "$WORK/data/labelsTr" -r 1.5 -s .nii.gz -e .nii.gz -o "$WORK/data_1.5mm/labelsTr"
cp "$WORK/data/datalist.json" "$WORK/data_1.5mm/datalist.json"

echo "== 3. train (MMAR dialect of Clara 3.x: the seed's spleen config with a small UNet and 32³ crops for a CPU)"
"${BIN}clara-tlt" train -m mmar -c config/config_train.json -e config/environment.json --json > "$WORK/train_summary.json"
"${BIN}python" - "$WORK/train_summary.json" <<'PY'
import json, sys
summary = json.load(open(sys.argv[1]))
print(f"best validation {summary['key_metric']}: {summary['best_metric']:.4f} at epoch {summary['best_epoch']} "
      f"({summary['iterations']} iterations in {summary['wall_time_s']:.0f} s)")
PY

echo "== 4. evaluate (the validation config as Clara writes it: its TF model loader finds models/model.pt)"
"${BIN}clara-tlt" evaluate -m mmar -c config/config_validation.json -e config/environment.json

echo "== 5. infer (labels only; no ground truth needed)"
"${BIN}clara-tlt" infer -m mmar -c config/config_validation.json -e config/environment.json \
  --set MMAR_EVAL_OUTPUT_PATH="$PWD/$WORK/infer"

echo "== 6. export (TorchScript and ONNX, each checked against PyTorch)"
"${BIN}tlt-export" --model_file_path "$WORK/models" --model_name model

echo "== 7. export as a MONAI bundle (checked against infer under MONAI without clara_tlt), then run it with MONAI"
"${BIN}clara-tlt" export -m mmar --model_file_path ../work/models --bundle "$WORK/bundle"
"${BIN}python" -m monai.bundle run --config_file "$WORK/bundle/configs/inference.json" \
  --meta_file "$WORK/bundle/configs/metadata.json" --bundle_root "$WORK/bundle" \
  --dataset_dir "$WORK/data_1.5mm/imagesTr" --output_dir "$WORK/bundle_out"

echo "Example pipeline finished; outputs in examples/$WORK"
