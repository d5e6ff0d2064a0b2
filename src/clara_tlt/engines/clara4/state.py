"""`train_state.pt` for a Clara 4.x training: what a run killed (kill -9, Ctrl-C) needs to go on where it stopped.

Written atomically at the end of every epoch, on rank 0: the network, optimizer and lr scheduler states, the
trainer's epoch and iteration, the evaluator's best key metric, every RNG state, and the config as given (a
resumed run must match it; only `epochs` may change). Tensors and plain data only: read with weights_only=True.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ignite.engine import Engine, Events

from clara_tlt.engines.checkpoint import save_checkpoint, unwrap
from clara_tlt.engines.distributed import is_main_rank
from clara_tlt.engines.train_state import _rng_states, _set_rng_states


class TrainState:
    """The state of `trainer` (and of `evaluator`'s best metric) saved to `path` after every epoch."""

    def __init__(
        self, path: Path, trainer: Any, *, evaluator: Any, scheduler: Any, config: Mapping[str, Any]
    ) -> None:
        self.path = path
        self.trainer = trainer
        self.evaluator = evaluator
        self.scheduler = scheduler
        self.config = dict(config)

    def attach(self) -> None:
        """Save after every epoch, after the config's handlers (validation, checkpoints) ran."""
        self.trainer.add_event_handler(Events.EPOCH_COMPLETED, self._save)

    def _save(self, _: Engine) -> None:
        if is_main_rank():
            save_checkpoint(self.path, self.capture())

    def capture(self) -> dict[str, Any]:
        """The state as tensors and plain data."""
        trainer, best, scheduler = self.trainer, self._best(), self.scheduler
        return {
            "model": unwrap(trainer.network).state_dict(),
            "optimizer": trainer.optimizer.state_dict(),
            "lr_scheduler": scheduler.state_dict() if scheduler is not None else None,
            "trainer": {"epoch": trainer.state.epoch, "iteration": trainer.state.iteration},
            "best": best,
            "rng": _rng_states(),
            "train_conf": self.config,
        }

    def restore(self, saved: Mapping[str, Any]) -> None:
        """Put a captured state back before the trainer runs on."""
        trainer = self.trainer
        unwrap(trainer.network).load_state_dict(saved["model"])
        trainer.optimizer.load_state_dict(saved["optimizer"])
        if self.scheduler is not None and saved.get("lr_scheduler") is not None:
            self.scheduler.load_state_dict(saved["lr_scheduler"])
        done = saved["trainer"]
        trainer.state.epoch = int(done["epoch"])
        trainer.state.iteration = int(done["iteration"])
        best = saved.get("best") or {}
        if self.evaluator is not None and best.get("epoch") is not None:
            self.evaluator.state.best_metric = best["metric"]
            self.evaluator.state.best_metric_epoch = best["epoch"]
        _set_rng_states(saved["rng"])

    def _best(self) -> dict[str, Any]:
        state = getattr(self.evaluator, "state", None)
        epoch = getattr(state, "best_metric_epoch", -1)
        if state is None or epoch is None or epoch < 0:
            return {"metric": None, "epoch": None}
        return {"metric": float(state.best_metric), "epoch": int(epoch)}
