"""examples/clara4_spleen end to end at tiny size: train, evaluate with the checkpoint, infer (its Invertd undoes
pre_transforms that end in ToTensord, run as EnsureTyped), export."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
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
    run("infer", "-m", str(mmar), "-c", "config/config_inference.json", "--set", *SIZES)
    _assert_overlays(sorted(mmar.rglob("*_seg.nii.gz")), synthetic_dataset)
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


def _assert_overlays(written: list[Path], datalist: Path) -> None:
    """One label volume per case of the example's inference list, on its input's grid (Invertd undid the crop)."""
    case = json.loads(datalist.read_text())["validation"]
    assert len(written) == len(case) == 1, written
    source, prediction = nib.load(datalist.parent / case[0]["image"]), nib.load(written[0])
    assert prediction.shape[:3] == source.shape
    np.testing.assert_allclose(prediction.affine, source.affine, atol=1e-4)
    assert set(np.unique(np.asarray(prediction.dataobj))) <= {0, 1}
