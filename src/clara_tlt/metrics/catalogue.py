"""Clara 3.1 aux ops and metrics issue 13 adds.

`NegLoss` puts the negated training loss of each case in a field, so a metric (`ComputeAverage`) can make the
loss the key metric (Clara's FAQ: "a metric just on the loss"); the workflow hands an aux op the section's
loss (else the train section's) as `loss`. `ComputeMulticlassAverage` is the class-averaged accuracy of a
classifier. (The Dice aux ops are in `dice_ops`.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from clara_tlt.errors import ConfigError
from clara_tlt.factory.registry import register
from clara_tlt.metrics.base import CaseValues, ClaraMetric


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


@register("metric", "ComputeMulticlassAverage", built_on="clara_tlt")
class ComputeMulticlassAverage(ClaraMetric):
    """Class-averaged accuracy of `(N, K)` scores (argmax) against `(N, K)` one-hot or `(N,)` index labels.

    Per class `k`: the fraction of the cases labelled `k` that are predicted `k` (its recall). `label_index`
    reports that one class; else `auc_average` combines them: `macro` (unweighted mean over classes present),
    `weighted` (by each class's count), `micro` (all cases: plain accuracy). Its per-case report
    (`report_path`) gives each case's `correct` (1 or 0). `is_key_metric`, `report_path`, `do_summary`,
    `do_print`: see `ClaraMetric`.
    """

    def __init__(
        self,
        name: str = "multiclass_average",
        field: str = "model",
        label_field: str = "label",
        auc_average: str = "macro",
        label_index: int | None = None,
        **base: Any,
    ) -> None:
        if auc_average not in ("macro", "weighted", "micro"):
            raise ConfigError(f"auc_average must be 'macro', 'weighted' or 'micro', got {auc_average!r}")
        super().__init__(name, field, label_field, **base)
        self.average = auc_average
        self.label_index = label_index

    def update(self, sample: dict[str, Any]) -> None:
        scores, label = self.pair(sample)
        scores = scores.reshape(scores.shape[0], -1)
        label = label.reshape(label.shape[0], -1)
        truth = label.argmax(dim=1) if label.shape[1] > 1 else label[:, 0].long()
        self.append("truth", truth)
        self.append("predicted", scores.argmax(dim=1))
        self.append("classes", torch.full_like(truth, scores.shape[1]))

    def aggregate(self) -> float:
        truth, predicted = self.stacked("truth"), self.stacked("predicted")
        counts = torch.bincount(truth, minlength=int(self.stacked("classes").max()))
        hits = torch.bincount(truth[truth == predicted], minlength=counts.numel())
        if self.label_index is not None:
            return float(hits[self.label_index] / counts[self.label_index])
        if self.average == "micro":
            return float(hits.sum() / counts.sum())
        present = counts > 0
        recall = hits[present].double() / counts[present]
        if self.average == "weighted":
            return float((recall * counts[present]).sum() / counts.sum())
        return float(recall.mean())

    def case_values(self) -> CaseValues:
        correct = (self.stacked("truth") == self.stacked("predicted")).double().reshape(-1, 1)
        return CaseValues(
            columns=["correct"], values=correct, empty=torch.zeros_like(correct, dtype=torch.int8)
        )
