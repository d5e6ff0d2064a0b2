"""Segmentation metrics: Clara's mean Dice over cases of the foreground classes."""

from __future__ import annotations

from typing import Any

import torch
from monai.metrics import compute_dice
from monai.networks.utils import one_hot

from clara_tlt.components import register
from clara_tlt.metrics.base import ClaraMetric


@register("metric", "ComputeAverageDice", aliases=("MetricAverageFromArrayDice",))
class ComputeAverageDice(ClaraMetric):
    """Mean Dice of the foreground classes (background left out), averaged over cases then classes.

    `field` holds `(N, C, ...)` class scores (argmax is taken) or `(N, 1, ...)` a label map; `label_field`
    holds `(N, 1, ...)` integer labels. A class absent from a case's ground truth gives that case no value for
    the class (MONAI's `ignore_empty`), so empty cases neither help nor hurt. `report_path` is where evaluate
    writes the per-case report.
    """

    def __init__(
        self,
        name: str = "mean_dice",
        field: str = "model",
        label_field: str = "label",
        is_key_metric: bool = False,
        report_path: str | None = None,
        applied_key: str | None = None,
        stopping_metric: bool | None = None,
    ) -> None:
        super().__init__(
            name=name,
            field=applied_key or field,
            label_field=label_field,
            is_key_metric=is_key_metric or bool(stopping_metric),
        )
        self.report_path = report_path

    def update(self, sample: dict[str, Any]) -> torch.Tensor:
        """Add a batch; returns the per-case Dice `(N, C-1)` (NaN where a class is absent from the label)."""
        prediction, label = self.pair(sample)
        label = label.long()
        channels = int(prediction.shape[1])
        num_classes = max(channels if channels > 1 else 2, int(label.max()) + 1, 2)
        if channels > 1:
            prediction = prediction.argmax(dim=1, keepdim=True)
        scores = compute_dice(
            one_hot(prediction.long(), num_classes),
            one_hot(label, num_classes),
            include_background=False,
            ignore_empty=True,
        )
        self.append("dice", scores)
        return scores

    def aggregate(self) -> float:
        per_class = self.stacked("dice").nanmean(dim=0)
        return float(per_class.nanmean())
