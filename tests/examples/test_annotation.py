"""examples/annotation (DExtr3D: image + extreme-points channel) from a user's seat: train one epoch, evaluate,
infer, export, then the AIAA annotation config with the user's clicks, all through the CLI on synthetic CT."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from clara_tlt.synthetic.dataset import write_dataset
from clara_tlt.transforms.extreme_points import extreme_points
from tests.conftest import write_json
from tests.test_cli import invoke_streams

EXAMPLE = Path(__file__).parents[2] / "examples" / "annotation"
CROP = (32, 32, 32)  # CropForegroundObject's size in the example's configs


def run(command: str, mmar: Path, config: str, *extra: str) -> dict:
    """`clara-tlt COMMAND -m MMAR -c config/CONFIG --json …`, which must exit 0; its JSON summary."""
    code, stdout, stderr = invoke_streams(
        command, "-m", str(mmar), "-c", f"config/{config}", "--json", *extra
    )
    assert code == 0, stderr
    return json.loads(stdout)


@pytest.fixture(scope="module")
def mmar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the example beside `work/annotation/data` (where its environment.json looks), trained 1 epoch."""
    root = tmp_path_factory.mktemp("annotation")
    shutil.copytree(EXAMPLE, root / "annotation")
    write_dataset(root / "work" / "annotation" / "data", num_training=2, num_validation=1, shape=(32, 32, 16))
    summary = run("train", root / "annotation", "config_train.json", "--set", "epochs=1")
    assert summary["key_metric"] == "mean_dice" and 0.0 <= summary["best_metric"] <= 1.0
    return root / "annotation"


def models(mmar: Path) -> Path:
    return mmar.parent / "work" / "annotation" / "models"


def test_evaluate_scores_the_crop_as_training_validated_it(mmar: Path, tmp_path: Path) -> None:
    """The points come from the label; without perturbation they are fixed, so evaluate repeats training's
    validation Dice on the same checkpoint, run after run."""
    trained = json.loads((models(mmar) / "train_summary.json").read_text())
    first = run("evaluate", mmar, "config_validation.json")
    second = run("evaluate", mmar, "config_validation.json", "--set", f"MMAR_EVAL_OUTPUT_PATH={tmp_path}")
    dice = first["metrics"]["mean_dice"]
    assert first["cases"] == 1 and second["metrics"]["mean_dice"] == dice
    assert dice == pytest.approx(trained["best_metric"], abs=1e-6)
    assert (mmar.parent / "work" / "annotation" / "eval" / "mean_dice_raw_results.txt").is_file()


def test_infer_writes_labels_of_the_object_crop(mmar: Path, tmp_path: Path) -> None:
    summary = run("infer", mmar, "config_validation.json", "--set", f"MMAR_EVAL_OUTPUT_PATH={tmp_path}")
    assert summary["cases"] == 1 and summary["failed"] == []
    labels = np.asarray(nib.load(tmp_path / "case_002" / "case_002_model.nii.gz").dataobj)
    assert labels.shape == CROP and set(np.unique(labels)) <= {0, 1}


def test_infer_takes_clicks_from_the_datalist_without_a_label(mmar: Path, tmp_path: Path) -> None:
    """Clara 3.1's `points_channel_field`: the points come from the case's datalist entry; no label is read."""
    data = mmar.parent / "work" / "annotation" / "data"
    label = np.asarray(nib.load(data / "labelsTr" / "case_002.nii.gz").dataobj) > 0
    entry = {"image": "imagesTr/case_002.nii.gz", "points": extreme_points(torch.as_tensor(label))}
    datalist = write_json(tmp_path / "clicks.json", {"validation": [entry]})
    config = json.loads((mmar / "config" / "config_validation.json").read_text())
    load, channels_first, scale, _crop, _points = config.pop("pre_transforms")
    for spec in (load, channels_first):
        spec["args"]["fields"] = "image"
    points = {"image_field": "image", "label_field": "label", "points_channel_field": "points"}
    config["pre_transforms"] = [
        load,
        channels_first,
        scale,
        {"name": "AddExtremePointsChannel", "args": points},
    ]
    del config["val_metrics"]
    write_json(mmar / "config" / "config_clicks.json", config)

    out = f"MMAR_EVAL_OUTPUT_PATH={tmp_path / 'out'}"
    summary = run("infer", mmar, "config_clicks.json", "--set", f"DATASET_JSON={datalist}", out)
    assert summary["cases"] == 1 and summary["failed"] == []
    written = nib.load(tmp_path / "out" / "case_002" / "case_002_model.nii.gz")
    assert written.shape == label.shape  # the whole volume: no crop without a label


def test_export_and_the_aiaa_config_take_image_and_points(mmar: Path, tmp_path: Path) -> None:
    """The exported 2-channel network runs the AIAA annotation config: the user's clicks become its second
    channel, and the labels lie on the input's grid."""
    summary = run("export", mmar, "config_train.json", "--model_file_path", str(models(mmar)))
    assert summary["verified"] is True
    network = torch.jit.load(models(mmar) / "model.ts")
    assert network(torch.zeros(1, 2, *CROP)).shape == (1, 2, *CROP)

    data = mmar.parent / "work" / "annotation" / "data"
    (tmp_path / "in").mkdir()
    image = shutil.copy(data / "imagesTr" / "case_002.nii.gz", tmp_path / "in")
    label = np.asarray(nib.load(data / "labelsTr" / "case_002.nii.gz").dataobj) > 0
    clicks = write_json(tmp_path / "points.json", extreme_points(torch.as_tensor(label)))
    code, stdout, stderr = invoke_streams(
        "deploy",
        "--json",
        "-c",
        str(mmar / "config" / "config_aiaa.json"),
        "--model_save_path",
        str(models(mmar) / "model.ts"),
        "-i",
        str(tmp_path / "in"),
        "-o",
        str(tmp_path / "out"),
        "--points",
        str(clicks),
    )
    assert code == 0, stderr
    assert json.loads(stdout)["failed"] == []
    written = nib.load(tmp_path / "out" / "case_002" / "case_002_model.nii.gz")
    assert written.shape == label.shape and np.allclose(written.affine, nib.load(image).affine, atol=1e-4)
