"""Export from a user's seat: each network's artefacts load and match PyTorch, shapes stay dynamic where
asked, bad checkpoints and bad exports fail loudly and leave nothing behind."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from clara_tlt.engines.checkpoint import network_from_checkpoint
from clara_tlt.export import ExportOptions, export_model
from clara_tlt.export.onnx import OnnxExporter
from tests.conftest import write_json
from tests.engines.conftest import UNET
from tests.export.conftest import AHNET, DENSENET, train_conf, write_checkpoint
from tests.faults import fill_disk
from tests.test_cli import invoke_streams

NAMES = ("model.pt", "model.ts", "model.onnx")


def torch_output(checkpoint: Path, x: np.ndarray) -> np.ndarray:
    network, _ = network_from_checkpoint(checkpoint)
    with torch.no_grad():
        return network(torch.from_numpy(x)).numpy()


def assert_artefacts_match(
    checkpoint: Path, shape: tuple[int, ...], *, torchscript: bool = True
) -> np.ndarray:
    """NAME.onnx in onnxruntime (and NAME.ts in libtorch) give PyTorch's output on a fresh input of `shape`;
    returns that output."""
    x = np.random.default_rng(1).random(shape, dtype=np.float32)
    expected = torch_output(checkpoint, x)
    session = ort.InferenceSession(str(checkpoint.with_suffix(".onnx")), providers=["CPUExecutionProvider"])
    onnx_out = session.run(["NV_MODEL_OUTPUT"], {"NV_MODEL_INPUT": x})[0]
    np.testing.assert_allclose(onnx_out, expected, atol=1e-4)
    if torchscript:
        scripted = torch.jit.load(str(checkpoint.with_suffix(".ts")))
        with torch.no_grad():
            np.testing.assert_allclose(scripted(torch.from_numpy(x)).numpy(), expected, atol=1e-5)
    return expected


def test_unet_fixed_shape_exports_verified_artefacts_with_a_dynamic_batch(tmp_path: Path) -> None:
    checkpoint = write_checkpoint(tmp_path, UNET, [16, 16, 16])
    summary = export_model(checkpoint)

    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(NAMES), "a temporary file was left behind"
    assert summary["input_shape"] == [-1, 1, 16, 16, 16] and summary["network"] == "UNet"
    for artefact in summary["artefacts"]:
        assert artefact["bytes"] == Path(artefact["path"]).stat().st_size
        assert [c["input_shape"][0] for c in artefact["checks"]] == [1, 2]
        assert all(c["passed"] and c["max_rel"] < 1e-3 for c in artefact["checks"])
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == ["batch", 1, 16, 16, 16]
    opsets = {o.domain: o.version for o in onnx.load(str(tmp_path / "model.onnx")).opset_import}
    assert opsets[""] == summary["onnx_opset"] == 17  # what onnxruntime and TensorRT ≥ 8.6 both take
    assert_artefacts_match(checkpoint, (5, 1, 16, 16, 16))  # up to --max_batch_size


def test_dynamic_mode_takes_other_spatial_sizes(tmp_path: Path) -> None:
    checkpoint = write_checkpoint(tmp_path, UNET, [16, 16, 16])
    code, stdout, stderr = invoke_streams(
        "export", "-m", str(tmp_path), "--model_file_path", str(tmp_path), "--trt_dynamic_mode", "--json"
    )
    assert code == 0, stderr
    assert "warn" not in stderr.lower(), "exporter noise reached the console"
    summary = json.loads(stdout)
    assert summary["input_shape"] == [-1, 1, -1, -1, -1]
    shapes = [c["input_shape"] for c in summary["artefacts"][1]["checks"]]
    assert shapes == [[1, 1, 16, 16, 16], [2, 1, 16, 16, 16], [1, 1, 32, 32, 32]]
    assert_artefacts_match(checkpoint, (3, 1, 24, 16, 32))


def test_segahnet_exports_and_matches(tmp_path: Path) -> None:
    checkpoint = write_checkpoint(tmp_path, AHNET, [32, 32, 32])
    summary = export_model(checkpoint, ExportOptions(max_batch_size=1))  # AHNet is big: one check per format
    assert summary["network"] == "SegAhnet" and summary["input_shape"] == [-1, 1, 32, 32, 32]
    assert [a["format"] for a in summary["artefacts"]] == ["torchscript", "onnx"]
    assert all(c["passed"] for a in summary["artefacts"] for c in a["checks"])
    # the ONNX file once more, from outside (the TorchScript file is checked like this for UNet and DenseNet)
    probabilities = assert_artefacts_match(checkpoint, (1, 1, 32, 32, 32), torchscript=False)
    assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-5), "the Clara softmax is part of the export"


def test_channels_last_densenet121_exports_with_dynamic_image_size(tmp_path: Path) -> None:
    checkpoint = write_checkpoint(tmp_path, DENSENET, [32, 32])
    summary = export_model(checkpoint, ExportOptions(dynamic=True, max_batch_size=1))
    assert summary["input_shape"] == [-1, -1, -1, 1]  # (N, H, W, C) as Clara's classifier took it
    assert_artefacts_match(checkpoint, (1, 48, 40, 1))


def test_a_checkpoint_that_does_not_fit_its_network_is_a_clear_error(tmp_path: Path) -> None:
    checkpoint = write_checkpoint(tmp_path, UNET, [16, 16, 16])
    saved = torch.load(checkpoint, weights_only=True)
    name = next(iter(saved["model"]))
    saved["model"][name] = torch.zeros(3, 3)
    torch.save(saved, checkpoint)
    code, _, stderr = invoke_streams("export", "-m", str(tmp_path), "--model_file_path", str(tmp_path))
    assert code == 3
    assert "does not fit this network" in stderr and name in stderr and "(3, 3)" in stderr
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def batch_frozen_mmar(root: Path) -> Path:
    """An MMAR whose config names `BatchFrozen` by "path" (a user's config may; a model file may not) and
    whose models/model.pt holds one; returns models/."""
    spec = {"path": "tests.export.conftest.BatchFrozen", "args": {}}
    write_json(root / "config" / "config_train.json", train_conf(spec, [8, 8, 8]))
    write_checkpoint(root / "models", spec, [8, 8, 8])
    return root / "models"


def test_a_wrong_export_fails_verification_and_removes_what_it_wrote(tmp_path: Path) -> None:
    models = batch_frozen_mmar(tmp_path)
    (models / "model.ts").write_bytes(b"an earlier export")
    code, _, stderr = invoke_streams("export", "-m", str(tmp_path), "-c", "config/config_train.json")
    assert code == 1
    assert "verification failed: model.ts on an input of shape (2, 1, 8, 8, 8)" in stderr
    assert sorted(p.name for p in models.iterdir()) == ["model.pt", "model.ts"]
    assert (models / "model.ts").read_bytes() == b"an earlier export"


def test_an_interrupted_export_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkpoint = write_checkpoint(tmp_path, UNET, [16, 16, 16])
    export_onnx = OnnxExporter.export

    def interrupted(self: OnnxExporter, network: torch.nn.Module, example: torch.Tensor, path: Path) -> None:
        export_onnx(self, network, example, path)
        raise KeyboardInterrupt  # Ctrl-C after the ONNX file is half done (written, not verified)

    monkeypatch.setattr(OnnxExporter, "export", interrupted)
    with pytest.raises(KeyboardInterrupt):
        export_model(checkpoint, ExportOptions(triton_repo=tmp_path / "repo"))
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["model.pt"]


def test_skip_verify_says_it_is_unsafe(tmp_path: Path) -> None:
    models = batch_frozen_mmar(tmp_path)
    code, stdout, stderr = invoke_streams(
        "export", "-m", str(tmp_path), "-c", "config/config_train.json", "--skip_verify"
    )
    assert code == 0, stderr
    assert "NOT verified" in stdout and "unsafe" in stdout
    assert (models / "model.onnx").is_file()


def test_mmar_dialect_takes_the_network_and_roi_from_the_config(unet_mmar: Path) -> None:
    models = unet_mmar / "models"
    spec = {**UNET, "args": {**UNET["args"], "out_channels": 3}}  # the checkpoint's own train_conf differs
    write_checkpoint(models, spec, [8, 8, 8], name="model_final")
    code, stdout, stderr = invoke_streams(
        "export",
        "-m",
        str(unet_mmar),
        "-c",
        "config/config_train.json",
        "--model_name",
        "model_final",
        "--json",
    )
    assert code == 3 and "does not fit this network" in stderr  # -c names the 2-class UNet
    assert "leave out -c, the checkpoint knows its network" in stderr and "partial_load" not in stderr
    code, stdout, stderr = invoke_streams(  # the way out it gives works
        "export", "-m", str(unet_mmar), "--model_name", "model_final", "--json"
    )
    assert code == 0, stderr
    assert json.loads(stdout)["input_shape"] == [-1, 1, 8, 8, 8]  # the checkpoint's own train_conf
    write_checkpoint(models, UNET, [8, 8, 8], name="model_final")
    code, stdout, stderr = invoke_streams(
        "export",
        "-m",
        str(unet_mmar),
        "-c",
        "config/config_train.json",
        "--model_name",
        "model_final",
        "--json",
    )
    assert code == 0, stderr
    assert json.loads(stdout)["input_shape"] == [-1, 1, 16, 16, 16]  # validate.inferer.roi_size of -c
    assert (models / "model_final.onnx").is_file() and (models / "model_final.ts").is_file()


def test_an_error_in_the_network_spec_names_the_file_and_key_it_came_from(unet_mmar: Path) -> None:
    """The network of -c is built from the config, so its error names the config and its key; without -c the
    checkpoint's own train_conf is built, and its error names the checkpoint."""
    models = unet_mmar / "models"
    write_checkpoint(models, UNET, [8, 8, 8])
    config_file = unet_mmar / "config" / "config_train.json"
    config = json.loads(config_file.read_text())
    config["train"]["model"]["args"]["channelz"] = [4, 8]
    config_file.write_text(json.dumps(config))
    code, _, stderr = invoke_streams("export", "-m", str(unet_mmar), "-c", "config/config_train.json")
    assert code == 3, stderr
    assert "config/config_train.json: train.model.args.channelz: network 'UNet' has no argument" in stderr
    assert "model.pt" not in stderr
    saved = torch.load(models / "model.pt", weights_only=True)
    saved["train_conf"] = train_conf({**UNET, "args": {**UNET["args"], "channelz": [4, 8]}}, [8, 8, 8])
    torch.save(saved, models / "model.pt")
    code, _, stderr = invoke_streams("export", "-m", str(unet_mmar))
    assert code == 3, stderr
    assert f"{models / 'model.pt'}: train_conf.train.model.args.channelz: network 'UNet' has no" in stderr


def test_missing_checkpoint_names_what_the_folder_holds(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, UNET, [16, 16, 16], name="model_final")
    code, _, stderr = invoke_streams("export", "-m", str(tmp_path), "--model_file_path", str(tmp_path))
    assert code == 3 and "model.pt' not found" in stderr and "model_final.pt" in stderr


def tlt_export():  # type: ignore[no-untyped-def]
    from clara_tlt.cli.export import tlt_command

    return tlt_command


def test_a_config_without_an_input_size_says_where_to_set_one(tmp_path: Path) -> None:
    checkpoint = write_checkpoint(tmp_path, UNET, [16, 16, 16])
    saved = torch.load(checkpoint, weights_only=True)
    del saved["train_conf"]["validate"]
    torch.save(saved, checkpoint)
    # --checkpoint_ext .ckpt (a Clara script's TensorFlow suffix) means the .pt beside it
    code, _, stderr = invoke_streams(
        "--model_file_path", str(tmp_path), "--checkpoint_ext", ".ckpt", command=tlt_export()
    )
    assert code == 3 and "validate.inferer.args.roi_size" in stderr and "3-D input size" in stderr


def test_an_artefact_write_that_hits_a_full_disk_fails_the_export_and_keeps_the_older_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_checkpoint(tmp_path, UNET, [16, 16, 16])
    (tmp_path / "model.ts").write_bytes(b"an earlier export")
    fill_disk(monkeypatch, room=1000, where=lambda name: name.endswith(".incomplete.ts"))
    code, _, stderr = invoke_streams("--model_file_path", str(tmp_path), command=tlt_export())
    assert code == 1
    assert f"{tmp_path / 'model.ts'}: not written: no space left on the device holding {tmp_path}" in stderr
    assert "basic_ios" not in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt", "model.ts"]
    assert (tmp_path / "model.ts").read_bytes() == b"an earlier export"


def test_a_relative_model_file_path_is_found_in_the_mmar(
    unet_mmar: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Like -c, `--model_file_path models` is relative to the MMAR given with -m, not to the working folder."""
    write_checkpoint(unet_mmar / "models", UNET, [8, 8, 8])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, stdout, stderr = invoke_streams(
        "export", "-m", str(unet_mmar), "--model_file_path", "models", "--json"
    )
    assert code == 0, stderr
    assert json.loads(stdout)["input_shape"] == [-1, 1, 8, 8, 8]  # the checkpoint written into the MMAR
    assert (unet_mmar / "models" / "model.onnx").is_file() and not (elsewhere / "models").exists()
