"""Write `model.pt` (best by the key metric), `model_final.pt`, and `train_state.pt` (everything resume needs).

Only rank 0 writes; every write is atomic and fsynced (clara_tlt.engines.checkpoint.save_checkpoint).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from clara_tlt.engines.checkpoint import model_payload, save_checkpoint
from clara_tlt.engines.trainer import Handler, Trainer

BEST, FINAL, STATE = "model.pt", "model_final.pt", "train_state.pt"


class CheckpointSaver(Handler):
    """`train_conf` is the resolved config saved in each model file; `full_state(trainer)` builds the resume state;
    `key_metric` names the metric that picks `model.pt` (None: the latest epoch's weights)."""

    def __init__(
        self,
        model_dir: Path,
        train_conf: dict[str, Any],
        full_state: Callable[[Trainer], dict[str, Any]],
        *,
        key_metric: str | None,
    ) -> None:
        self.model_dir = model_dir
        self.train_conf = train_conf
        self.full_state = full_state
        self.key_metric = key_metric

    def _model(self, trainer: Trainer, name: str, metric: float | None) -> None:
        payload = model_payload(
            trainer.setup.network, self.train_conf, epoch=trainer.state.epoch, metric=metric
        )
        save_checkpoint(self.model_dir / name, payload)

    def validated(self, trainer: Trainer) -> None:
        if trainer.state.improved:
            self._model(trainer, BEST, trainer.state.best_metric)

    def epoch_completed(self, trainer: Trainer) -> None:
        if self.key_metric is None:  # without a metric, the latest weights are the best we know
            self._model(trainer, BEST, None)
        save_checkpoint(self.model_dir / STATE, self.full_state(trainer))

    def interrupted(self, trainer: Trainer) -> None:
        save_checkpoint(self.model_dir / STATE, self.full_state(trainer))

    def completed(self, trainer: Trainer) -> None:
        metric = trainer.state.metrics.get(self.key_metric) if self.key_metric else None
        self._model(trainer, FINAL, metric)
