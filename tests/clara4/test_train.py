"""Training a Clara 4.x MMAR: the 3.x outputs layout, resume after Ctrl-C, AMP on a CPU, the lock, tlt-train."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
import torch

from clara_tlt.engines.checkpoint import network_from_checkpoint
from clara_tlt.engines.model_folder import ModelFolder
from tests.clara4.conftest import PAIR, SEGRESNET, train_config, write_mmar
from tests.conftest import write_json
from tests.test_cli import invoke, invoke_streams


def test_ctrl_c_keeps_the_last_epoch_and_the_same_command_resumes(trained: dict[str, Any]) -> None:
    code, output = trained["first"]
    assert code == 130, output
    assert "run the same command to resume" in output
    code, output = trained["second"]
    assert code == 0, output
    assert "Trained 2 epoch(s), 2 iteration(s)" in output
    assert trained["resumed_from_epoch"] == 1


def test_model_files_are_what_3x_writes_and_evaluate_reads(trained: dict[str, Any]) -> None:
    models = trained["mmar"] / "models"
    for name in ("model.pt", "model_final.pt"):
        saved = torch.load(models / name, weights_only=True)
        assert set(saved) == {"model", "train_conf", "epoch", "metric"}
        assert saved["train_conf"]["train"]["model"]["args"]["spatial_dims"] == 3  # MONAI 0.x `dimensions`
    assert torch.load(models / "model_final.pt", weights_only=True)["epoch"] == 2
    network, _ = network_from_checkpoint(models / "model.pt")  # the 3.x readers rebuild it from the file
    assert network(torch.zeros(1, 1, 16, 16, 16)).shape == (1, 2, 16, 16, 16)
    state = torch.load(models / "train_state.pt", weights_only=True)
    assert state["trainer"] == {"epoch": 2, "iteration": 2}
    assert not list(models.glob(".*incomplete*"))


def test_amp_on_a_cpu_is_one_line_saying_it_is_off(mmar4: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    code, output = invoke("train", "-m", str(mmar4), "-c", "config/config_train.json", "--dry-run")
    assert code == 0, output
    assert caplog.text.count("AMP is off for this run on the CPU") == 1
    assert not (mmar4 / "models" / "train_state.pt").exists()


def test_a_second_training_into_the_same_folder_is_refused(mmar4: Path) -> None:
    with ModelFolder(mmar4 / "models", "MMAR_CKPT_DIR").lock(hold=True):
        code, output = invoke("train", "-m", str(mmar4), "-c", "config/config_train.json")
    assert code == 2, output
    assert "another training is writing" in output


def test_tlt_train_runs_a_segresnet_config(tmp_path: Path, synthetic_dataset: Path) -> None:
    config = train_config(SEGRESNET) | {"epochs": 1}
    del config["train"]["handlers"][0]  # no CheckpointLoader: tlt-train fine-tunes with -c
    path = write_json(tmp_path / "config_train.json", config)
    models = tmp_path / "models"
    from clara_tlt.cli.train import tlt_command

    flags = ("segmentation", "-e", str(path), "-d", str(synthetic_dataset), "-r", str(models))
    code, out, err = invoke_streams(*flags, command=tlt_command)
    assert code == 0, out + err
    assert (
        torch.load(models / "model_final.pt", weights_only=True)["train_conf"]["train"]["model"]["name"]
        == "SegResNet"
    )
    assert (models / "model.pt").is_file()


def test_clara40_batch_lambdas_train_validate_and_log_the_loss(
    tmp_path: Path, synthetic_dataset: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    mmar = write_mmar(tmp_path / "mmar", synthetic_dataset)
    text = (mmar / "config" / "config_train.json").read_text()
    text = text.replace(json.dumps(PAIR), json.dumps("lambda x: (x['pred'], x['label'])"))
    text = text.replace(
        json.dumps("#monai.handlers.from_engine(['loss'], first=True)"), "\"lambda x: x['loss']\""
    )
    config = json.loads(text) | {"epochs": 1}
    assert "from_engine" not in json.dumps(config)  # Clara 4.0's forms only
    write_json(mmar / "config" / "config_train.json", config)
    stats = logging.getLogger("monai.handlers.StatsHandler")  # MONAI's own logger, which prints itself
    stats.addHandler(caplog.handler)
    try:
        code, output = invoke("train", "-m", str(mmar), "-c", "config/config_train.json")
    finally:
        stats.removeHandler(caplog.handler)
    assert code == 0, output
    assert (
        "config_train.json: validate.metrics[0].args.output_transform: lambda x: (x['pred'], x['label']) → "
        '#monai.handlers.from_engine(["pred", "label"])' in caplog.text
    )
    assert "train.handlers[4].args.output_transform: lambda x: x['loss'] → " in caplog.text
    assert 0.0 <= json.loads((mmar / "models" / "train_summary.json").read_text())["best_metric"] <= 1.0
    assert re.search(r"train_loss: \d+\.\d+", caplog.text), "StatsHandler logs no loss"
