"""A trainer extending MONAI's SupervisedTrainer (Clara Train 4.x BYOC, "extend SupervisedTrainer"), used as
`"trainer": {"path": "my_trainer.GuardedTrainer", "args": {...}}`: every other argument is wired by clara-tlt."""

from __future__ import annotations

from typing import Any

import torch
from monai.engines import SupervisedTrainer
from monai.handlers import from_engine


class GuardedTrainer(SupervisedTrainer):
    """SupervisedTrainer that stops the run at the first iteration whose loss is not finite."""

    def _iteration(self, engine: Any, batchdata: dict[str, Any]) -> dict[str, Any]:
        output = super()._iteration(engine, batchdata)
        loss = from_engine(["loss"], first=True)(output)  # the output is decollated: one dict per item
        if not torch.isfinite(torch.as_tensor(loss)).all():
            raise FloatingPointError(f"loss is {float(loss)} at iteration {engine.state.iteration}")
        return output
