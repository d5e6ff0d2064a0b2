"""examples/classification, the Clara 3.x classification MMAR, runs train → evaluate → infer → export through the
CLI on synthetic pictures whose class (a bright blob or none) is visible."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from clara_tlt.synthetic.classification import write_classification_dataset
from tests.conftest import REPO, write_json
from tests.test_cli import invoke_streams

EXAMPLE = REPO / "examples" / "classification"


@pytest.fixture
def mmar(tmp_path: Path) -> Path:
    """A copy of the example MMAR whose environment.json points at a fresh synthetic dataset."""
    copy = tmp_path / "examples-copy"
    shutil.copytree(EXAMPLE, copy)
    datalist = write_classification_dataset(tmp_path / "data", num_training=32, num_validation=8)
    environment = json.loads((copy / "config" / "environment.json").read_text())
    environment.update(
        DATA_ROOT=str(datalist.parent),
        DATASET_JSON=str(datalist),
        MMAR_CKPT_DIR=str(tmp_path / "models"),
        MMAR_EVAL_OUTPUT_PATH=str(tmp_path / "eval"),
    )
    write_json(copy / "config" / "environment.json", environment)
    return copy


def clara(*args: str) -> dict:
    """Run `clara-tlt ARGS --json`; the parsed summary (the test fails with stderr when the exit code is not 0)."""
    code, stdout, stderr = invoke_streams(*args, "--json")
    assert code == 0, stderr
    return json.loads(stdout)


def test_the_classification_example_runs_end_to_end(mmar: Path, tmp_path: Path) -> None:
    m = ["-m", str(mmar)]
    clara("train", *m, "-c", "config/config_train.json", "--set", "epochs=2")
    assert (tmp_path / "models" / "model.pt").is_file()

    evaluated = json.dumps(clara("evaluate", *m, "-c", "config/config_validation.json"))
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())["metrics"]
    assert metrics["blob_AUC"] >= 0.9, f"the blob is visible: two epochs should rank it ({evaluated})"
    assert 0.0 <= metrics["mean_accuracy"] <= 1.0

    out = tmp_path / "infer"
    clara("infer", *m, "-c", "config/config_validation.json", "--set", f"MMAR_EVAL_OUTPUT_PATH={out}")
    with (out / "class_probabilities.csv").open() as f:
        rows = list(csv.DictReader(f))
    validation = json.loads((tmp_path / "data" / "datalist.json").read_text())["validation"]
    assert sorted(Path(r["image"]).name for r in rows) == sorted(Path(e["image"]).name for e in validation)
    probabilities = np.array([[float(r["model_0"]), float(r["model_1"])] for r in rows])
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5), "softmax: one probability per class"

    exported = clara("export", *m, "--model_file_path", str(tmp_path / "models"))
    assert {a["format"] for a in exported["artefacts"]} >= {"torchscript", "onnx"}
    picture = torch.randn(3, 1, 32, 32)
    scripted = torch.jit.load(str(tmp_path / "models" / "model.ts"))(picture).detach().numpy()
    session = ort.InferenceSession(
        str(tmp_path / "models" / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    (from_onnx,) = session.run(None, {session.get_inputs()[0].name: picture.numpy()})
    assert np.allclose(scripted, from_onnx, atol=1e-5) and np.allclose(scripted.sum(axis=1), 1.0, atol=1e-5)
