"""torchrun on a Clara 4.x MMAR: two CPU processes (gloo) train one network on their halves of the list, rank 0
holds the lock and writes; evaluate and infer under torchrun say they run in one process (exit 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from clara_tlt.config import load_config
from clara_tlt.engines.clara4.build import refuse_unsupported
from clara_tlt.engines.distributed import Context
from clara_tlt.errors import UsageError
from tests.clara4.conftest import write_mmar
from tests.conftest import write_json
from tests.torchrun import torchrun


def _torchrun(*args: str) -> subprocess.CompletedProcess[str]:
    return torchrun(*args, env={"PYTHONPATH": os.pathsep.join(sys.path)})


def test_two_gloo_processes_train_on_halves_and_rank_0_writes(
    tmp_path: Path, synthetic_dataset: Path
) -> None:
    mmar = write_mmar(tmp_path / "mmar", synthetic_dataset)
    path = mmar / "config" / "config_train.json"
    config = json.loads(path.read_text()) | {"epochs": 1}
    config["train"]["dataloader"]["args"]["batch_size"] = 1  # one process: 2 iterations; each of two: 1
    write_json(path, config)
    result = _torchrun("train", "-m", str(mmar), "-c", "config/config_train.json")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert result.stdout.count("Trained 1 epoch(s), 1 iteration(s)") == 1, output  # one summary, rank 0's
    assert output.count("train_loss: ") == 1, output  # StatsHandler "rank": 0 is built in process 0 only
    models = mmar / "models"
    assert len(list(models.glob("events.out.tfevents.*"))) == 1
    assert torch.load(models / "train_state.pt", weights_only=True)["trainer"] == {"epoch": 1, "iteration": 1}
    final = torch.load(models / "model_final.pt", weights_only=True)["model"]
    assert not any(key.startswith("module.") for key in final)  # the network, not its DDP wrapper
    assert 0.0 <= json.loads((models / "train_summary.json").read_text())["best_metric"] <= 1.0


def test_evaluate_under_torchrun_says_it_runs_in_one_process(mmar4: Path) -> None:
    config = load_config(
        "config/config_validation.json", mmar_root=mmar4, environment_path="config/environment.json"
    )
    two = Context(rank=0, world_size=2, device=torch.device("cpu"))
    with pytest.raises(
        UsageError, match="supported for training only: run the same command without torchrun"
    ):
        refuse_unsupported(config, two, stage="evaluate")
    refuse_unsupported(config, two, stage="train")  # training runs on
