"""What infer, evaluate and export say about the model: nothing alarming on the happy path, "train first" where
there is no model, and a way out of a network mismatch that works for that command (run here to prove it)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from clara_tlt.engines.model_loaders import ModelLoader
from tests.conftest import write_json
from tests.engines.conftest import UNET, write_validation_mmar
from tests.export.conftest import write_checkpoint
from tests.test_cli import invoke_streams

VALIDATE = ("-c", "config/config_validation.json")


@pytest.fixture
def model_mmar(tmp_path: Path, seed_configs: Path, train_data: Path) -> Path:
    """An MMAR with the seed validation config (16³ windows) and models/model.pt, a 2-class UNet."""
    mmar = tmp_path / "mmar"
    write_validation_mmar(mmar, seed_configs, train_data)
    write_checkpoint(mmar / "models", UNET, [16, 16, 16])
    return mmar


def test_clara_tf_model_names_map_to_the_pytorch_model_without_a_warning(
    model_mmar: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="clara_tlt")
    path, model_format = ModelLoader(str(model_mmar / "models" / "model.trt.pb")).resolve()
    assert (path.name, model_format) == ("model.pt", "checkpoint")
    assert "model.trt.pb names Clara's TensorFlow model; loading" in caplog.text
    code, _, stderr = invoke_streams("infer", "-m", str(model_mmar), *VALIDATE)  # the seed config names it
    assert code == 0, stderr
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


@pytest.mark.parametrize("command", ["infer", "evaluate", "export"])
def test_an_mmar_with_no_trained_model_says_train_first(model_mmar: Path, command: str) -> None:
    for file in (model_mmar / "models").iterdir():
        file.unlink()
    flags = ("-m", str(model_mmar), *(VALIDATE if command != "export" else ()))
    code, _, stderr = invoke_streams(command, *flags)
    assert code == 3, stderr
    assert f"no trained model in {model_mmar / 'models'}/" in stderr
    assert f"train first: clara-tlt train -m {model_mmar} -c config/config_train.json" in stderr
    assert "TensorFlow" not in stderr


def test_evaluate_with_another_network_in_the_config_says_to_drop_it_and_that_works(model_mmar: Path) -> None:
    config = model_mmar / "config" / "config_validation.json"
    validation = json.loads(config.read_text())
    three_classes = {**UNET, "args": {**UNET["args"], "out_channels": 3}}
    write_json(config, {**validation, "model": three_classes})
    code, _, stderr = invoke_streams("evaluate", "-m", str(model_mmar), *VALIDATE)
    assert code == 3 and "does not fit this network" in stderr
    assert "remove that section from the config" in stderr and "partial_load" not in stderr
    write_json(config, validation)  # the way out it gives
    code, stdout, stderr = invoke_streams("evaluate", "-m", str(model_mmar), *VALIDATE, "--json")
    assert code == 0, stderr
    assert json.loads(stdout)["cases"] == 2
