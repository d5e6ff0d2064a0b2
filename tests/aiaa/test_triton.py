"""Triton-served inference against a loopback KServe v2 server (127.0.0.1 only) computing with the exported model."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from clara_tlt.export import ExportOptions, export_model
from tests.aiaa.conftest import cube_mask
from tests.aiaa.kserve_server import serve_repository
from tests.aiaa.test_aiaa import deploy
from tests.aiaa.test_operator import TRTIS_INFERER, labels_of, operator_config
from tests.conftest import write_json

try:
    import tritonclient.http  # noqa: F401
except (ImportError, RuntimeError):  # tritonclient without its http extra raises RuntimeError
    pytestmark = pytest.mark.skip(reason="needs `pip install 'tritonclient[http]'`")

MAX_BATCH = 2


@pytest.fixture
def repo(model_file: Path, tmp_path: Path) -> Path:
    """`clara-tlt export`'s Triton repository (`repo/model/1/model.onnx`), batches of at most 2."""
    repository = tmp_path / "triton_models"
    export_model(model_file, ExportOptions(dynamic=True, max_batch_size=MAX_BATCH, triton_repo=repository))
    return repository


def triton_inferer(url: str, **extra: object) -> dict:
    host, port = url.split(":")
    args = {**TRTIS_INFERER["args"], "ip": host, "port": int(port), "batch_size": 3, **extra}
    return {"name": "TRTISScanWindowInferer", "args": args}


def test_triton_served_windows_equal_local_inference(
    repo: Path, model_file: Path, ct_folder: Path, tmp_path: Path, seed_configs: Path
) -> None:
    from clara_tlt.engines.model_loaders import ModelLoader
    from clara_tlt.formats.triton import TritonModel

    local = ModelLoader(str(model_file.with_suffix(".onnx"))).load(device=torch.device("cpu")).network
    triton_loader = {
        "name": "TRTISModelLoader",
        "args": {"model_spec_file_name": str(repo / "model" / "config.pbtxt")},
    }
    local_loader = {
        "name": "PyTorchModelLoader",
        "args": {"model_file_path": str(model_file.with_suffix(".onnx"))},
    }
    with serve_repository(repo) as server:
        windows = torch.rand(5, 1, 16, 16, 16)
        served = TritonModel(server.url, "model")
        torch.testing.assert_close(served(windows), local(windows))
        assert server.batch_sizes == [2, 2, 1]  # split at the model's max_batch_size

        config = operator_config(
            tmp_path / "triton", seed_configs, inferer=triton_inferer(server.url), model_loader=triton_loader
        )
        code, _, stderr = deploy("--config", config, "--input", ct_folder, "--output", tmp_path / "served")
        assert code == 0, stderr
        assert server.infer_requests > 3 and max(server.batch_sizes) <= MAX_BATCH
    config = operator_config(
        tmp_path / "local", seed_configs, inferer=triton_inferer("x:1"), model_loader=local_loader
    )
    code, _, stderr = deploy("--config", config, "--input", ct_folder, "--output", tmp_path / "local_out")
    assert code == 0, stderr
    for name in ("ct_a", "ct_b"):
        served_labels = labels_of(tmp_path / "served" / f"{name}.mhd")
        np.testing.assert_array_equal(served_labels, labels_of(tmp_path / "local_out" / f"{name}.mhd"))
    assert (labels_of(tmp_path / "served" / "ct_a.mhd") == cube_mask()).all()


def test_the_trtis_inferer_of_a_config_sends_the_windows_to_the_server(repo: Path, model_file: Path) -> None:
    """`clara-tlt infer`/`evaluate` on a config naming TRTISScanWindowInferer: the served model computes."""
    from clara_tlt.engines.model_loaders import ModelLoader
    from clara_tlt.factory.registry import build
    from clara_tlt.inferers import ScanWindowInferer

    local = ModelLoader(str(model_file.with_suffix(".onnx"))).load(device=torch.device("cpu")).network
    image = torch.rand(1, 1, 24, 20, 16)
    expected = ScanWindowInferer(roi_size=[16, 16, 16], batch_size=3)(image, local)

    def unused(_: torch.Tensor) -> torch.Tensor:
        raise AssertionError("the local network must not be called")

    with serve_repository(repo) as server:
        spec = triton_inferer(server.url)
        inferer = build(spec, "inferer", file="config_validation.json", key_path="validate.inferer")
        torch.testing.assert_close(inferer(image, unused), expected)
        assert server.infer_requests > 0 and max(server.batch_sizes) <= MAX_BATCH
        inferer.close()


def test_aiaa_trtis_inference_finds_the_server_from_the_clara_variable(
    repo: Path, aiaa_config: Path, ct_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = json.loads(aiaa_config.read_text())
    config["inference"]["args"].update({"model_name": "model", "ip": "nowhere.invalid", "port": 1})
    write_json(aiaa_config, config)
    with serve_repository(repo) as server:
        monkeypatch.setenv("NVIDIA_CLARA_TRTISURI", server.url)
        code, stdout, stderr = deploy(
            "--config", aiaa_config, "--input", ct_folder, "--output", tmp_path / "out"
        )
        assert code == 0, stderr
        assert server.infer_requests > 0 and json.loads(stdout)["cases"] == 2


def test_an_unreachable_server_fails_fast_naming_its_url(
    tmp_path: Path, seed_configs: Path, ct_folder: Path
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    loader = {"name": "TRTISModelLoader", "args": {"model_spec_file_name": "config.pbtxt"}}
    inferer = triton_inferer(f"127.0.0.1:{port}", ready_timeout=1)
    config = operator_config(tmp_path, seed_configs, inferer=inferer, model_loader=loader)
    started = time.monotonic()
    code, _, stderr = deploy("--config", config, "--input", ct_folder, "--output", tmp_path / "out")
    assert code == 1 and f"http://127.0.0.1:{port}" in stderr and "not ready after 1 s" in stderr
    assert time.monotonic() - started < 10
