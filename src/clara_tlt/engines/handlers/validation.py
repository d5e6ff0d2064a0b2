"""Validate every `num_training_epoch_per_valid` epochs and after the last, then fire `validated`."""

from __future__ import annotations

from collections.abc import Callable

from clara_tlt.engines.evaluation import Evaluation
from clara_tlt.engines.trainer import Handler, Trainer


class Validation(Handler):
    """Runs `run()` (an `evaluate` call bound to the validation data) and records the key metric."""

    def __init__(self, run: Callable[[], Evaluation]) -> None:
        self.run = run
        self.last: Evaluation | None = None

    def epoch_completed(self, trainer: Trainer) -> None:
        epoch, options = trainer.state.epoch, trainer.options
        if epoch % options.validate_every and epoch != options.epochs:
            return
        self.last = self.run()
        state = trainer.state
        state.metrics = dict(self.last.metrics)
        state.record_metric(self.last.key_value)
        state.history[-1]["metrics"] = dict(self.last.metrics)
        trainer.fire("validated")
