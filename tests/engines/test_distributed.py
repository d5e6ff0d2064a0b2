"""torchrun: two CPU processes (gloo) train one model, shard the data, merge validation cases, write once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from clara_tlt.config import load_config, parse_overrides
from clara_tlt.engines.distributed import amp_enabled, is_main_rank
from clara_tlt.engines.validation import evaluate
from clara_tlt.engines.workflow import build_workflow
from tests.torchrun import torchrun


def test_two_process_gloo_run_writes_once_and_scores_every_case(unet_mmar: Path) -> None:
    result = torchrun("train", "-m", str(unet_mmar), "-c", "config/config_train.json", "--set", "epochs=2")
    assert result.returncode == 0, result.stdout + result.stderr
    models = unet_mmar / "models"
    assert len(list(models.glob("events.out.tfevents.*"))) == 1  # only rank 0 logs
    assert result.stderr.count("epoch 2/2: loss") == 1  # and reports
    assert result.stdout.count("Trained 2 epoch(s)") == 1, result.stdout  # one summary, not one per rank
    summary = json.loads((models / "train_summary.json").read_text())
    assert summary["history"][0]["iterations"] == 1  # 2 training volumes over 2 ranks

    # The merged validation metric is the metric of the final weights over the whole validation list.
    config = load_config(
        "config/config_train.json",
        environment_path="config/environment.json",
        mmar_root=unet_mmar,
        overrides=parse_overrides(["epochs=2"]),
    )
    workflow = build_workflow(config, default_data_list_key="training")
    network = workflow.get("train.model")
    network.load_state_dict(torch.load(models / "model_final.pt", weights_only=True)["model"])
    result_one_process = evaluate(
        network,
        workflow.get("validate.image_pipeline"),
        inferer=workflow.get("validate.inferer"),
        metrics=workflow.get("validate.metrics"),
        device=torch.device("cpu"),
    )
    assert summary["final_metrics"]["mean_dice"] == pytest.approx(
        result_one_process.metrics["mean_dice"], abs=1e-6
    )


def test_rank_0_is_the_one_that_writes_and_mixed_precision_needs_cuda(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("RANK", raising=False)
    assert is_main_rank()  # outside torchrun
    monkeypatch.setenv("RANK", "1")
    assert not is_main_rank() and is_main_rank(0)
    assert amp_enabled(True, torch.device("cuda")) and not amp_enabled(False, torch.device("cuda"))
    assert not amp_enabled(True, torch.device("cpu"))  # use_amp is ignored on a CPU
