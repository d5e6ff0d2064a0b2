"""The Triton repository parses as Triton's ModelConfig with the right names and dims; TensorRT is built and
verified where it is installed, and skipped (or required) with a reason where it is not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clara_tlt.export import ExportOptions, TensorNames, export_model
from clara_tlt.export.tensorrt import tensorrt_missing
from tests.engines.conftest import UNET
from tests.export.conftest import write_checkpoint
from tests.test_cli import invoke_streams

MISSING_TRT = tensorrt_missing()


def model_config(path: Path):  # type: ignore[no-untyped-def]
    config_pb2 = pytest.importorskip(
        "tritonclient.grpc.model_config_pb2", reason="tritonclient[grpc] (a dev dependency) is not installed"
    )
    from google.protobuf import text_format

    return text_format.Parse(path.read_text(), config_pb2.ModelConfig())


@pytest.mark.parametrize(
    ("platform", "file", "input_name", "output_name"),
    [
        ("onnxruntime_onnx", "model.onnx", "NV_MODEL_INPUT", "NV_MODEL_OUTPUT"),
        ("pytorch_libtorch", "model.pt", "NV_MODEL_INPUT__0", "NV_MODEL_OUTPUT__0"),
    ],
)
def test_triton_repository_parses_as_model_config(
    tmp_path: Path, platform: str, file: str, input_name: str, output_name: str
) -> None:
    checkpoint = write_checkpoint(tmp_path / "models", UNET, [16, 16, 16])
    repo = tmp_path / "triton"
    code, stdout, stderr = invoke_streams(
        "export",
        "-m",
        str(tmp_path),
        "--triton_repo",
        str(repo),
        "--triton_platform",
        platform,
        "--trt_dynamic_mode",
        "--max_batch_size",
        "4",
        "--json",
    )
    assert code == 0, stderr
    served = repo / "model" / "1" / file
    source = checkpoint.with_suffix(".onnx" if platform == "onnxruntime_onnx" else ".ts")
    assert served.read_bytes() == source.read_bytes()
    config = model_config(repo / "model" / "config.pbtxt")
    assert (config.name, config.platform, config.max_batch_size) == ("model", platform, 4)
    assert [(t.name, list(t.dims)) for t in config.input] == [(input_name, [1, -1, -1, -1])]
    assert [(t.name, list(t.dims)) for t in config.output] == [(output_name, [2, -1, -1, -1])]
    assert config.input[0].data_type == config.output[0].data_type == 11  # TYPE_FP32
    assert len(config.instance_group) == 1
    assert json.loads(stdout)["triton"]["output"]["dims"] == [2, -1, -1, -1]


def test_fixed_shape_dims_and_custom_node_names(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, UNET, [16, 16, 16])
    names = TensorNames(input="image", output="probabilities")
    options = ExportOptions(names=names, triton_repo=tmp_path / "repo")
    export_model(tmp_path / "model.pt", options)
    config = model_config(tmp_path / "repo" / "model" / "config.pbtxt")
    assert [(t.name, list(t.dims)) for t in config.input] == [("image", [1, 16, 16, 16])]
    assert [(t.name, list(t.dims)) for t in config.output] == [("probabilities", [2, 16, 16, 16])]


@pytest.mark.skipif(MISSING_TRT is not None, reason=f"TensorRT path not testable here: {MISSING_TRT}")
@pytest.mark.parametrize("precision", ["FP32", "FP16"])
def test_tensorrt_engine_is_built_and_verified(tmp_path: Path, precision: str) -> None:
    checkpoint = write_checkpoint(tmp_path, UNET, [16, 16, 16])
    options = ExportOptions(
        precision=precision,
        dynamic=True,
        require_trt=True,
        triton_repo=tmp_path / "repo",
        triton_platform="tensorrt_plan",
    )
    summary = export_model(checkpoint, options)
    engine = next(a for a in summary["artefacts"] if a["format"] == "tensorrt")
    assert engine["path"] == str(checkpoint.with_suffix(".trt")) and len(engine["checks"]) == 3
    assert all(c["passed"] for c in engine["checks"])
    assert (tmp_path / "repo" / "model" / "1" / "model.plan").read_bytes() == checkpoint.with_suffix(
        ".trt"
    ).read_bytes()


@pytest.mark.skipif(MISSING_TRT is None, reason="TensorRT and a GPU are present here")
def test_without_tensorrt_the_step_is_skipped_in_one_line_unless_required(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, UNET, [16, 16, 16])
    code, stdout, stderr = invoke_streams("export", "-m", str(tmp_path), "--model_file_path", str(tmp_path))
    assert code == 0, stderr
    skipped = [line for line in stdout.splitlines() if line.startswith("Skipped")]
    assert skipped == [f"Skipped tensorrt: {MISSING_TRT}"]
    assert not (tmp_path / "model.trt").exists()
    for flags in (
        ["--require_trt"],
        ["--triton_repo", str(tmp_path / "repo"), "--triton_platform", "tensorrt_plan"],
    ):
        (tmp_path / "model.onnx").unlink(missing_ok=True)
        code, _, stderr = invoke_streams(
            "export", "-m", str(tmp_path), "--model_file_path", str(tmp_path), *flags
        )
        assert code == 1 and MISSING_TRT in stderr
        assert not (tmp_path / "model.onnx").exists() and not (tmp_path / "repo").exists()
