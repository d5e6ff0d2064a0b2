"""Classification metrics: area under the ROC curve and the mean of a per-sample value."""

from __future__ import annotations

from typing import Any

import torch
from monai.metrics import compute_roc_auc

from clara_tlt.components import register
from clara_tlt.metrics.base import CaseValues, ClaraMetric


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
        super().__init__(name=name, field=field, label_field=label_field, is_key_metric=is_key_metric)
        self.class_index = class_index
        self.average = auc_average

    def update(self, sample: dict[str, Any]) -> None:
        prediction, label = self.pair(sample)
        self.append("scores", prediction.float().reshape(prediction.shape[0], -1))
        self.append("labels", label.float().reshape(label.shape[0], -1))

    def aggregate(self) -> float:
        scores, labels = self.stacked("scores"), self.stacked("labels")
        if self.class_index is not None:
            scores, labels = scores[:, self.class_index], labels[:, self.class_index]
        return float(compute_roc_auc(scores, labels, average=self.average))  # type: ignore[arg-type]


@register("metric", "ComputeAverage")
class ComputeAverage(ClaraMetric):
    """Mean of a per-sample value an aux op put in `field` (e.g. `accuracy` of `ComputeAccuracy`)."""

    def __init__(self, name: str = "average", field: str = "accuracy", is_key_metric: bool = False) -> None:
        super().__init__(name=name, field=field, label_field=None, is_key_metric=is_key_metric)

    def update(self, sample: dict[str, Any]) -> None:
        if self.field not in sample:
            raise KeyError(f"metric '{self.name}' reads field '{self.field}', which no aux op wrote")
        self.append("values", torch.as_tensor(sample[self.field], dtype=torch.float64).reshape(-1))

    def aggregate(self) -> float:
        return float(self.stacked("values").mean())

    def case_values(self) -> CaseValues:
        values = self.stacked("values").reshape(-1, 1)
        return CaseValues(
            columns=[self.field], values=values, empty=torch.zeros_like(values, dtype=torch.int8)
        )
