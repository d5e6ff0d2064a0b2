"""examples/clara4_spleen end to end at tiny size: train, evaluate with the checkpoint, export. (Its
config_inference.json inverts pre_transforms that end in ToTensord, whose MONAI 1.6 inverse hands numpy to
CropForegroundd's: infer is tested on tests/clara4's own MMAR until the example or the rename table changes.)"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from tests.conftest import REPO, write_json
from tests.test_cli import invoke

EXAMPLE = REPO / "examples" / "clara4_spleen"
SIZES = ["roi_size=[16,16,16]", "num_workers=0"]
TRAINING = [*SIZES, "crop_size=[16,16,16]", "num_samples=1", "epochs=1", "num_interval_per_valid=1"]


def test_the_clara4_spleen_example_trains_evaluates_and_exports(
    tmp_path: Path, synthetic_dataset: Path
) -> None:
    mmar = Path(shutil.copytree(EXAMPLE, tmp_path / "clara4_spleen"))
    models = tmp_path / "models"
    environment = json.loads((mmar / "config" / "environment.json").read_text()) | {
        "DATA_ROOT": str(synthetic_dataset.parent),
        "DATASET_JSON": str(synthetic_dataset),
        "MMAR_CKPT_DIR": str(models),
        "MMAR_CKPT": str(models / "model.pt"),
        "MMAR_EVAL_OUTPUT_PATH": str(tmp_path / "eval"),
    }
    write_json(mmar / "config" / "environment.json", environment)

    def run(*args: str) -> str:
        code, output = invoke(*args)
        assert code == 0, output
        return output

    run("train", "-m", str(mmar), "-c", "config/config_train.json", "--set", *TRAINING)
    saved = torch.load(models / "model.pt", weights_only=True)
    assert saved["train_conf"]["train"]["model"]["args"]["spatial_dims"] == 3
    assert (models / "model_final.pt").is_file()
    assert "val_mean_dice" in run(
        "evaluate", "-m", str(mmar), "-c", "config/config_validation.json", "--set", *SIZES
    )
    assert (tmp_path / "eval" / "metrics.csv").is_file()
    run(
        "export",
        "-m",
        str(mmar),
        "-c",
        "config/config_train.json",
        "--model_file_path",
        str(models),
        *(word for item in SIZES for word in ("--set", item)),  # export's --set takes one item each
    )
    assert (models / "model.ts").is_file() and (models / "model.onnx").is_file()
