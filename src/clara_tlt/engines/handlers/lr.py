"""Step the learning-rate policy once per iteration, as Clara's policies count global steps."""

from __future__ import annotations

from typing import Any

from clara_tlt.engines.trainer import Handler, Trainer


class LrStep(Handler):
    def __init__(self, policy: Any) -> None:
        self.policy = policy

    def iteration_completed(self, trainer: Trainer) -> None:
        self.policy.step()
