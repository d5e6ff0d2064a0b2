"""Clara validation metrics on MONAI: each reads its fields from a sample dict, accumulates, and aggregates.

Protocol the engines use: `metric.update(sample)` per batch, `metric.aggregate() -> float`, `metric.reset()`;
`metric.name` labels logs and reports, `metric.is_key_metric` picks the best checkpoint.
"""

from __future__ import annotations

from typing import Any

import torch
from monai.metrics import DiceMetric, compute_roc_auc
from monai.networks.utils import one_hot

from clara_tlt.components import register


class ClaraMetric:
    """Common fields: `name` (report label), `field` (prediction key), `label_field`, `is_key_metric`."""

    def __init__(self, name: str, field: str, label_field: str | None, is_key_metric: bool) -> None:
        self.name = name
        self.field = field
        self.label_field = label_field
        self.is_key_metric = is_key_metric

    def _pair(self, sample: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        if self.label_field is None:
            raise KeyError(f"metric '{self.name}' needs a label_field")
        return torch.as_tensor(sample[self.field]), torch.as_tensor(sample[self.label_field])


@register("metric", "ComputeAverageDice", aliases=("MetricAverageFromArrayDice",))
class ComputeAverageDice(ClaraMetric):
    """Mean Dice over cases of the foreground classes (background left out).

    `field` holds `(N, C, ...)` class scores (argmax is taken) or `(N, 1, ...)` a label map; `label_field`
    holds `(N, 1, ...)` integer labels. `report_path` is where evaluate writes the per-case report.
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
        super().__init__(name, applied_key or field, label_field, is_key_metric or bool(stopping_metric))
        self.report_path = report_path
        self._dice = DiceMetric(include_background=False, reduction="mean_batch", ignore_empty=True)

    def update(self, sample: dict[str, Any]) -> torch.Tensor:
        """Add a batch; returns the per-case Dice `(N, C-1)`."""
        prediction, label = self._pair(sample)
        label = label.long()
        num_classes = max(int(prediction.shape[1]) if prediction.shape[1] > 1 else 2, int(label.max()) + 1, 2)
        if prediction.shape[1] > 1:
            prediction = prediction.argmax(dim=1, keepdim=True)
        scores = self._dice(one_hot(prediction.long(), num_classes), one_hot(label, num_classes))
        return torch.as_tensor(scores)

    def aggregate(self) -> float:
        return float(torch.as_tensor(self._dice.aggregate()).nanmean())

    def reset(self) -> None:
        self._dice.reset()


@register("metric", "ComputeAUC")
class ComputeAUC(ClaraMetric):
    """Area under the ROC curve of `(N, K)` scores against `(N, K)` 0/1 labels: one class (`class_index`) or
    all classes averaged (`auc_average`: macro, weighted, micro)."""

    def __init__(
        self,
        name: str = "AUC",
        field: str = "binary_preds",
        label_field: str = "binary_labels",
        class_index: int | None = None,
        auc_average: str = "macro",
        is_key_metric: bool = False,
    ) -> None:
        super().__init__(name, field, label_field, is_key_metric)
        self.class_index = class_index
        self.average = auc_average
        self.reset()

    def update(self, sample: dict[str, Any]) -> None:
        prediction, label = self._pair(sample)
        self._predictions.append(prediction.detach().float().reshape(prediction.shape[0], -1).cpu())
        self._labels.append(label.detach().float().reshape(label.shape[0], -1).cpu())

    def aggregate(self) -> float:
        predictions, labels = torch.cat(self._predictions), torch.cat(self._labels)
        if self.class_index is not None:
            predictions, labels = predictions[:, self.class_index], labels[:, self.class_index]
        return float(compute_roc_auc(predictions, labels, average=self.average))  # type: ignore[arg-type]

    def reset(self) -> None:
        self._predictions: list[torch.Tensor] = []
        self._labels: list[torch.Tensor] = []


@register("metric", "ComputeAverage")
class ComputeAverage(ClaraMetric):
    """Mean of a per-sample value the model step put in `field` (e.g. the accuracy of an aux op)."""

    def __init__(self, name: str = "average", field: str = "accuracy", is_key_metric: bool = False) -> None:
        super().__init__(name, field, None, is_key_metric)
        self.reset()

    def update(self, sample: dict[str, Any]) -> None:
        self._values.append(torch.as_tensor(sample[self.field], dtype=torch.float64).reshape(-1))

    def aggregate(self) -> float:
        return float(torch.cat(self._values).mean())

    def reset(self) -> None:
        self._values: list[torch.Tensor] = []
