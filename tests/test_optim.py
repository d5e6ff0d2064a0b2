"""Clara's optimizers: `learning_rate` (Clara) and `lr` (torch, the workflow's global) and their precedence."""

from __future__ import annotations

import pytest
import torch

from clara_tlt.factory.registry import build


@pytest.mark.parametrize("name", ["Adam", "Momentum"])
def test_explicit_learning_rate_zero_is_kept(name: str) -> None:
    model = torch.nn.Linear(2, 1)
    optimizer = build(
        {"name": name, "args": {"learning_rate": 0}},
        "optimizer",
        file="config_train.json",
        key_path="train.optimizer",
        inject={"params": model.parameters(), "lr": 1e-3},
    )
    assert optimizer.param_groups[0]["lr"] == 0.0


@pytest.mark.parametrize("name", ["Adam", "Momentum"])
def test_global_learning_rate_applies_when_the_optimizer_names_none(name: str) -> None:
    model = torch.nn.Linear(2, 1)
    optimizer = build(
        {"name": name},
        "optimizer",
        file="config_train.json",
        key_path="train.optimizer",
        inject={"params": model.parameters(), "lr": 3e-4},
    )
    assert optimizer.param_groups[0]["lr"] == 3e-4
