"""The Clara Deploy operator (seed 001) with a local model: outputs named as the input, the publish folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from clara_tlt.io import read_image
from tests.aiaa.conftest import cube_mask, threshold_network, write_ct
from tests.aiaa.test_aiaa import deploy
from tests.conftest import write_json


def operator_config(folder: Path, seed_configs: Path, *, inferer: dict, model_loader: dict) -> Path:
    """Seed 004's validation config with the inferer and model loader seed 001 asks for."""
    config = json.loads((seed_configs / "config_validation_spleen.json").read_text())
    config.update({"inferer": inferer, "model_loader": model_loader})
    return write_json(folder / "config_inference.json", config)


TRTIS_INFERER = {
    "name": "TRTISScanWindowInferer",
    "args": {
        "model_name": "model",
        "ip": "localhost",
        "port": 8000,
        "protocol": "HTTP",
        "output_type": "RAW",
        "roi_size": [16, 16, 16],
    },
}


@pytest.fixture
def local_config(tmp_path: Path, seed_configs: Path) -> Path:
    """config/config_inference.json with a TorchScript model beside it, and a config_render.json."""
    folder = tmp_path / "app" / "config"
    folder.mkdir(parents=True)
    torch.jit.trace(threshold_network(), torch.zeros(1, 1, 16, 16, 16)).save(str(folder / "model.ts"))
    write_json(folder / "config_render.json", {"transfer_function": "ct_abdomen"})
    loader = {"name": "PyTorchModelLoader", "args": {"model_file_path": "model.ts"}}
    return operator_config(folder, seed_configs, inferer=TRTIS_INFERER, model_loader=loader)


def labels_of(path: Path) -> np.ndarray:
    return read_image(path, label=True).array.transpose(2, 1, 0)  # (z, y, x) → (x, y, z)


def test_outputs_are_named_as_the_inputs_and_overlay_them(
    local_config: Path, ct_folder: Path, tmp_path: Path
) -> None:
    out, logs = tmp_path / "output", tmp_path / "logs"
    code, stdout, stderr = deploy(
        "--config", local_config, "--input", ct_folder, "--output", out, "--logs", logs
    )
    assert code == 0, stderr
    assert sorted(p.name for p in out.iterdir()) == ["ct_a.mhd", "ct_a.raw", "ct_b.mhd", "ct_b.raw"]
    for name, source_file, offset in (("ct_a", "ct_a.nii.gz", 0), ("ct_b", "ct_b.mhd", 4)):
        labels = labels_of(out / f"{name}.mhd")
        assert labels.dtype == np.uint8 and (labels == cube_mask(offset)).all()
        source = read_image(ct_folder / source_file)
        written = read_image(out / f"{name}.mhd")
        np.testing.assert_allclose(written.spacing, source.spacing, atol=1e-5)
        np.testing.assert_allclose(written.origin, source.origin, atol=1e-4)
    assert json.loads(stdout)["cases"] == 2
    assert "ct_a.nii.gz" in (logs / "clara_tlt_deploy.log").read_text()


def test_the_publish_folder_holds_what_the_render_server_reads(
    local_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    single = tmp_path / "in"
    write_ct(single / "lung.nii.gz", cube_mask())
    monkeypatch.setenv(
        "CLARA_DEPLOY_INPUT", str(single)
    )  # the operator's folders may come from the environment
    monkeypatch.setenv("CLARA_DEPLOY_OUTPUT", str(tmp_path / "out"))
    publish = tmp_path / "publish"
    code, _, stderr = deploy("--config", local_config, "--publish", publish)
    assert code == 0, stderr
    assert (tmp_path / "out" / "lung.mhd").is_file()
    names = sorted(p.name for p in publish.iterdir())
    assert names == [
        "config.meta",
        "config_render.json",
        "image.mhd",
        "image.out.mhd",
        "image.out.raw",
        "image.raw",
    ]
    np.testing.assert_array_equal(
        read_image(publish / "image.mhd").array, read_image(single / "lung.nii.gz").array
    )
    assert (labels_of(publish / "image.out.mhd") == cube_mask()).all()
    listed = [f["name"] for f in json.loads((publish / "config.meta").read_text())["files"]]
    assert listed == ["image.mhd", "image.out.mhd", "config_render.json"]


def test_a_folder_without_volumes_exits_4(local_config: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no volume here")
    code, _, stderr = deploy(
        "--config", local_config, "--input", tmp_path / "empty", "--output", tmp_path / "o"
    )
    assert code == 4 and "no volume in" in stderr


def test_two_volumes_of_one_name_are_refused_before_any_is_segmented(
    local_config: Path, ct_folder: Path, tmp_path: Path
) -> None:
    write_ct(ct_folder / "ct_a.mhd", cube_mask(2))  # beside ct_a.nii.gz: both would be OUTPUT/ct_a.mhd
    out = tmp_path / "output"
    code, _, stderr = deploy("--config", local_config, "--input", ct_folder, "--output", out)
    assert code == 4, stderr
    assert f"'ct_a': {ct_folder / 'ct_a.mhd'}, {ct_folder / 'ct_a.nii.gz'}" in stderr
    assert not out.exists()
