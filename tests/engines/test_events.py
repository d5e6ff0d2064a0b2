"""The trainer fires every event itself, in its documented order: the handler list's order changes nothing."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import torch

from clara_tlt.engines import training
from clara_tlt.engines.trainer import Trainer
from tests.engines.test_train import stop_early_and_follow_the_key_metric, train_mmar

RUN_FACTS = ("wall_time_s", "iterations_per_s")  # the clock's, not the training's


class Fired:
    """The events the trainer fires, each with the epochs done when it fired, and the trainer at the end."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.events: list[tuple[str, int]] = []
        self.trainer: Trainer | None = None
        fire = Trainer.fire

        def recording(trainer: Trainer, event: str) -> None:
            self.events.append((event, trainer.state.epoch))
            self.trainer = trainer
            fire(trainer, event)

        monkeypatch.setattr(Trainer, "fire", recording)


def batches(done: int) -> list[tuple[str, int]]:
    """The events of an epoch's 2 batches (2 training volumes, batches of 1), `done` epochs before it."""
    return [("epoch_started", done), ("iteration_completed", done), ("iteration_completed", done)]


def test_events_fire_in_the_documented_order(unet_mmar: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fired = Fired(monkeypatch)
    train_mmar(unet_mmar, "epochs=3", "num_training_epoch_per_valid=2")
    assert fired.events == [
        ("started", 0),
        *batches(0),
        ("epoch_trained", 1),
        ("epoch_completed", 1),
        *batches(1),
        ("epoch_trained", 2),
        ("validated", 2),  # every 2nd epoch
        ("epoch_completed", 2),
        *batches(2),
        ("epoch_trained", 3),
        ("validated", 3),  # and the last
        ("epoch_completed", 3),
        ("completed", 3),
    ]


def outputs(models: Path) -> dict[str, Any]:
    """Every file of a model folder by name (TensorBoard's by count: their names hold the clock and host)."""
    found: dict[str, Any] = {"tensorboard files": len(list(models.glob("events.out.tfevents.*")))}
    for path in sorted(models.iterdir()):
        if path.suffix == ".pt":
            found[path.name] = torch.load(path, weights_only=True)
        elif path.suffix == ".json":
            data = json.loads(path.read_text())
            found[path.name] = {k: v for k, v in data.items() if k not in RUN_FACTS}
    return found


def same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
    return bool(a == b)


def test_the_order_of_the_handler_list_changes_nothing(
    unet_mmar: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Early stop, a metric-following lr policy, logging and checkpoints, reversed and shuffled: the same training
    and the same files. EarlyStop ends the run without touching the options."""
    stop_early_and_follow_the_key_metric(unet_mmar)
    build, results = training._handlers, []
    for arrange in (lambda h: h[::-1], lambda h: random.Random(3).sample(h, len(h))):
        monkeypatch.setattr(training, "_handlers", lambda *args, arrange=arrange: arrange(build(*args)))
        fired = Fired(monkeypatch)
        summary = train_mmar(unet_mmar, "epochs=6", "learning_rate=1e-12")
        assert fired.trainer is not None and fired.trainer.options.epochs == 6  # as configured
        assert summary["epochs"] == 3  # EarlyStop ended the run
        results.append(outputs((unet_mmar / "models").rename(unet_mmar / f"models{len(results)}")))
    assert results[0]["train_summary.json"]["history"][-1]["metrics"]
    assert same(results[0], results[1])
