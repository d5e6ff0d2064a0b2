"""Classification metrics: area under the ROC curve and the mean of a per-sample value."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from monai.metrics import compute_roc_auc

from clara_tlt.errors import ConfigError
from clara_tlt.factory.registry import register
from clara_tlt.metrics.base import CaseValues, ClaraMetric


@register("metric", "ComputeAUC")
class ComputeAUC(ClaraMetric):
    """Area under the ROC curve of `(N, K)` scores against `(N, K)` 0/1 labels: one class (`class_index`) or
    the classes of `include_list` (all when null) averaged (`auc_average`: macro, weighted, micro).

    Clara 3.x: `include_list` (undocumented); our reading: the class indices the average takes. AUC has no
    per-case value: its per-case report (`report_path`) lists each case's score per class it is computed from.
    `is_key_metric`, `report_path`, `do_summary`, `do_print`: see `ClaraMetric`.
    """

    def __init__(
        self,
        name: str = "AUC",
        field: str = "binary_preds",
        label_field: str = "binary_labels",
        class_index: int | None = None,
        auc_average: str = "macro",
        include_list: Sequence[int] | None = None,
        **base: Any,
    ) -> None:
        super().__init__(name, field, label_field, **base)
        if class_index is not None and include_list is not None:
            raise ConfigError("give class_index (one class) or include_list (classes averaged), not both")
        self.classes = [class_index] if class_index is not None else include_list
        self.average = auc_average

    def update(self, sample: dict[str, Any]) -> None:
        prediction, label = self.pair(sample)
        self.append("scores", self.included(prediction))
        self.append("labels", self.included(label))

    def included(self, values: torch.Tensor) -> torch.Tensor:
        """`(N, K)` values → `(N, len(classes))`, the classes this metric takes."""
        values = values.float().reshape(values.shape[0], -1)
        if self.classes is None:
            return values
        if max(self.classes) >= values.shape[1]:
            raise ConfigError(
                f"metric '{self.name}': class {max(self.classes)} asked for, but the scores have "
                f"{values.shape[1]} classes (indices from 0)"
            )
        return values[:, list(self.classes)]

    def aggregate(self) -> float:
        scores, labels = self.stacked("scores"), self.stacked("labels")
        if scores.shape[1] == 1:
            scores, labels = scores[:, 0], labels[:, 0]
        return float(compute_roc_auc(scores, labels, average=self.average))  # type: ignore[arg-type]

    def case_values(self) -> CaseValues:
        scores = self.stacked("scores").double()
        classes = self.classes if self.classes is not None else range(scores.shape[1])
        return CaseValues(
            columns=[f"score_{k}" for k in classes],
            values=scores,
            empty=torch.zeros_like(scores, dtype=torch.int8),
        )


@register("metric", "ComputeAverage")
class ComputeAverage(ClaraMetric):
    """Mean of a per-sample value an aux op put in `field` (e.g. `accuracy` of `ComputeAccuracy`).

    `invalid_value`: the value a case gets when its metric is undefined (NaN by default); such cases are left
    out of the mean. `negate_value`: report −value (each case and the mean), so that a loss can be a key
    metric. `is_key_metric`, `report_path`, `do_summary`, `do_print`: see `ClaraMetric`.
    """

    def __init__(
        self,
        name: str = "average",
        field: str = "accuracy",
        invalid_value: float = math.nan,
        negate_value: bool = False,
        **base: Any,
    ) -> None:
        super().__init__(name, field, None, **base)
        self.invalid_value = invalid_value
        self.sign = -1.0 if negate_value else 1.0

    def update(self, sample: dict[str, Any]) -> None:
        if self.field not in sample:
            raise KeyError(f"metric '{self.name}' reads field '{self.field}', which no aux op wrote")
        values = torch.as_tensor(sample[self.field], dtype=torch.float64).detach().cpu().reshape(-1)
        invalid = values.isnan() if math.isnan(self.invalid_value) else values == self.invalid_value
        self.append("values", torch.where(invalid, math.nan, values * self.sign))

    def aggregate(self) -> float:
        return float(self.stacked("values").nanmean())

    def case_values(self) -> CaseValues:
        values = self.stacked("values").reshape(-1, 1)
        return CaseValues(
            columns=[self.field], values=values, empty=torch.zeros_like(values, dtype=torch.int8)
        )
