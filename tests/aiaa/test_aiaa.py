"""AIAA model configs from a user's seat: the seed's spleen config end to end, annotation points, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from clara_tlt.engines.checkpoint import model_payload, save_checkpoint
from tests.aiaa.conftest import SHAPE, ct_affine, cube_mask, write_ct
from tests.conftest import write_json
from tests.test_cli import invoke_streams


def deploy(*args: str) -> tuple[int, str, str]:
    return invoke_streams("deploy", "--json", *map(str, args))


def test_seed_spleen_config_writes_labels_that_overlay_the_input(
    aiaa_config: Path, model_file: Path, ct_folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    code, stdout, stderr = deploy(
        "--config", aiaa_config, "--model_save_path", model_file, "--input", ct_folder, "--output", out
    )
    assert code == 0, stderr
    summary = json.loads(stdout)
    assert summary["cases"] == 2 and summary["failed"] == []
    for name, offset in (("ct_a", 0), ("ct_b", 4)):
        written = nib.load(out / name / f"{name}_model.nii.gz")
        assert written.get_data_dtype() == np.uint8
        assert written.shape == SHAPE  # RestoreOriginalShape undid ScaleByResolution
        np.testing.assert_allclose(written.affine, ct_affine(), atol=1e-4)
        labels = np.asarray(written.dataobj)
        assert (labels == cube_mask(offset)).mean() > 0.99
    points = summary["results"][str(ct_folder / "ct_a.nii.gz")]["points"]
    assert len(points) == 6 and all(len(p) == 3 for p in points)  # FetchExtremePoints, on the resampled grid


def test_an_empty_prediction_is_an_empty_label_and_no_points(
    aiaa_config: Path, model_file: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "empty"
    write_ct(folder / "air.nii.gz", np.zeros(SHAPE, dtype=bool))
    code, stdout, stderr = deploy(
        "--config",
        aiaa_config,
        "--model_save_path",
        model_file,
        "--input",
        folder,
        "--output",
        tmp_path / "o",
    )
    assert code == 0, stderr
    assert json.loads(stdout)["results"][str(folder / "air.nii.gz")]["points"] == []
    assert not np.asarray(nib.load(tmp_path / "o" / "air" / "air_model.nii.gz").dataobj).any()


def _annotation_model(tmp_path: Path) -> Path:
    """Two input channels (image, extreme-points heatmap in [-1, 1]); class 1 where the heatmap is above 0.5."""
    network = torch.nn.Conv3d(2, 2, kernel_size=1)
    with torch.no_grad():
        network.weight.copy_(torch.tensor([[0.0, -1.0], [0.0, 1.0]]).view(2, 2, 1, 1, 1))
        network.bias.copy_(torch.tensor([0.5, -0.5]))
    spec = {"name": "Conv3d", "args": {"in_channels": 2, "out_channels": 2, "kernel_size": 1}}
    path = tmp_path / "annotation" / "model.pt"
    path.parent.mkdir()
    return save_checkpoint(path, model_payload(network, {"model": spec}, epoch=1, metric=None))


def test_annotation_models_take_the_points_as_an_extra_channel(
    aiaa_config: Path, ct_folder: Path, tmp_path: Path
) -> None:
    config = json.loads(aiaa_config.read_text())
    config["type"] = "annotation"
    write_json(aiaa_config, config)
    clicks = [[8, 16, 8], [19, 16, 8], [14, 10, 8], [14, 23, 8], [14, 16, 4], [14, 16, 11]]
    points = write_json(tmp_path / "points.json", clicks)
    model = _annotation_model(tmp_path)
    out = tmp_path / "out"

    code, _, stderr = deploy(
        "--config", aiaa_config, "--model_save_path", model, "--input", ct_folder, "--output", out
    )
    assert code == 2 and "needs its extreme points" in stderr and "ct_a.nii.gz" in stderr

    code, _, stderr = deploy(
        "--config",
        aiaa_config,
        "--model_save_path",
        model,
        "--input",
        ct_folder,
        "--output",
        out,
        "--points",
        points,
    )
    assert code == 0, stderr
    labels = np.asarray(nib.load(out / "ct_a" / "ct_a_model.nii.gz").dataobj)
    assert all(labels[tuple(p)] == 1 for p in clicks)  # the heatmap peaks where the user clicked
    assert labels.mean() < 0.1


@pytest.mark.parametrize(
    ("kind", "message"),
    [("deepgrow", "type 'deepgrow' is not run by clara-tlt"), ("segmentaton", "did you mean 'segmentation'")],
)
def test_types_that_do_not_run_are_refused(
    kind: str, message: str, aiaa_config: Path, model_file: Path, ct_folder: Path, tmp_path: Path
) -> None:
    config = json.loads(aiaa_config.read_text())
    config["type"] = kind
    write_json(aiaa_config, config)
    code, _, stderr = deploy(
        "--config", aiaa_config, "--model_save_path", model_file, "--input", ct_folder, "--output", tmp_path
    )
    assert code == 3 and message in stderr and "Types that run: segmentation, annotation, others" in stderr


def test_missing_model_empty_folder_and_a_broken_volume(
    aiaa_config: Path, model_file: Path, ct_folder: Path, tmp_path: Path
) -> None:
    args = ("--config", aiaa_config, "--output", tmp_path / "out")
    code, _, stderr = deploy(*args, "--model_save_path", tmp_path / "nowhere.pt", "--input", ct_folder)
    assert code == 3 and "nowhere.pt" in stderr

    (tmp_path / "none").mkdir()
    code, _, stderr = deploy(*args, "--model_save_path", model_file, "--input", tmp_path / "none")
    assert code == 4 and "no volume in" in stderr

    (ct_folder / "ct_c.nii.gz").write_bytes((ct_folder / "ct_a.nii.gz").read_bytes()[:300])
    code, _, stderr = deploy(*args, "--model_save_path", model_file, "--input", ct_folder)
    assert code == 5 and "ct_c.nii.gz" in stderr
    assert (tmp_path / "out" / "ct_b" / "ct_b_model.nii.gz").is_file()


def test_a_datalist_entry_brings_its_own_points(aiaa_config: Path, ct_folder: Path, tmp_path: Path) -> None:
    config = json.loads(aiaa_config.read_text())
    config["type"] = "annotation"
    write_json(aiaa_config, config)
    clicks = [[8, 16, 8], [19, 16, 8]]
    datalist = write_json(
        tmp_path / "datalist.json", {"validation": [{"image": "input/ct_a.nii.gz", "points": clicks}]}
    )
    out = tmp_path / "out"
    code, stdout, stderr = deploy(
        "--config",
        aiaa_config,
        "--model_save_path",
        _annotation_model(tmp_path),
        "--data_file",
        datalist,
        "--output",
        out,
    )
    assert code == 0, stderr
    assert json.loads(stdout)["cases"] == 1
    labels = np.asarray(nib.load(out / "ct_a" / "ct_a_model.nii.gz").dataobj)
    assert all(labels[tuple(p)] == 1 for p in clicks)


def test_tlt_infer_runs_an_aiaa_config_on_a_datalist(
    aiaa_config: Path, model_file: Path, ct_folder: Path, tmp_path: Path
) -> None:
    from clara_tlt.cli.infer import tlt_command

    datalist = write_json(
        tmp_path / "datalist.json", {"validation": [{"image": str(ct_folder / "ct_a.nii.gz")}]}
    )
    out = tmp_path / "infer"
    code, stdout, stderr = invoke_streams(
        "--config",
        str(aiaa_config),
        "--model_save_path",
        str(model_file),
        "--data_file",
        str(datalist),
        "--output_path",
        str(out),
        "--json",
        command=tlt_command,
    )
    assert code == 0, stderr
    assert json.loads(stdout)["cases"] == 1
    labels = np.asarray(nib.load(out / "ct_a" / "ct_a_model.nii.gz").dataobj)
    assert (labels == cube_mask(0)).mean() > 0.99
