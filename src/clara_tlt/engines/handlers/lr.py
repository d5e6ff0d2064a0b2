"""Step the learning-rate policy once per iteration, as Clara's policies count global steps; a policy that
follows a metric (`steps_on_metric`, e.g. ReduceOnPlateau) is stepped after each validation with the key metric."""

from __future__ import annotations

from typing import Any

from clara_tlt.engines.trainer import Handler, Trainer


class LrStep(Handler):
    def __init__(self, policy: Any, *, key_metric: str | None) -> None:
        self.policy = policy
        self.key_metric = key_metric
        self.on_metric = bool(getattr(policy, "steps_on_metric", False))

    def iteration_completed(self, trainer: Trainer) -> None:
        if not self.on_metric:
            self.policy.step()

    def validated(self, trainer: Trainer) -> None:
        if self.on_metric and self.key_metric in trainer.state.metrics:
            self.policy.step(trainer.state.metrics[self.key_metric])
