"""Clara 3.1 aux ops issue 13 adds: `NegLoss` puts the negated training loss of each case in a field, so a
metric (`ComputeAverage`) can make the loss the key metric (Clara's FAQ: "a metric just on the loss").

The workflow hands an aux op the section's loss (else the train section's) as `loss`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from clara_tlt.components import register
from clara_tlt.errors import ConfigError


@register("metric", "NegLoss", built_on="clara_tlt")
class NegLoss:
    """`sample[tag]` = −loss(model, label) per case `(N,)`: higher is better, as a key metric must be."""

    def __init__(
        self,
        tag: str = "neg_loss",
        label_field: str = "label",
        loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        if loss is None:
            raise ConfigError(
                'NegLoss scores the loss, and the config defines none: add a "loss" to the train section'
            )
        self.loss = loss
        self.tag = tag
        self.label_field = label_field

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        output, label = sample["model"], torch.as_tensor(sample[self.label_field]).to(sample["model"].device)
        values = [-self.loss(output[i : i + 1], label[i : i + 1]).reshape(()) for i in range(output.shape[0])]
        return {**sample, self.tag: torch.stack(values).detach()}
