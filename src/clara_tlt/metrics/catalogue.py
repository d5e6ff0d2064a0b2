"""Clara 3.1 aux ops and metrics issue 13 adds.

`NegLoss` puts the negated training loss of each case in a field, so a metric (`ComputeAverage`) can make the
loss the key metric (Clara's FAQ: "a metric just on the loss"); the workflow hands an aux op the section's
loss (else the train section's) as `loss`. `DiceMaskedOutput` scores partly annotated labels;
`ComputeMulticlassAverage` is the class-averaged accuracy of a classifier.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from monai.metrics import compute_dice

from clara_tlt.components import register
from clara_tlt.errors import ConfigError
from clara_tlt.metrics.base import ClaraMetric


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


@register("metric", "DiceMaskedOutput", built_on="monai.metrics.compute_dice")
class DiceMaskedOutput:
    """`sample[tag]` `(N,)`: each case's mean Dice over its classes, counting only voxels whose label is known.

    Partly annotated data marks unlabelled voxels with a negative label (`-1`); they are masked out of both the
    prediction and the label. The output `(N, K, *spatial)` is turned into classes by argmax (`K > 1`) or by
    `logit_thresh` (`K == 1`); the label is `(N, 1, *spatial)` class indices. With `skip_background` class 0
    is left out of the mean; a class absent from the masked label has no value (left out too).
    """

    def __init__(
        self,
        tag: str = "dice_masked",
        label_field: str = "label",
        skip_background: bool = True,
        logit_thresh: float = 0.5,
    ) -> None:
        self.tag = tag
        self.label_field = label_field
        self.skip_background = skip_background
        self.logit_thresh = logit_thresh

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        output = torch.as_tensor(sample["model"]).detach().float()
        label = torch.as_tensor(sample[self.label_field]).to(output.device).reshape(output.shape[0], 1, -1)
        output = output.reshape(*output.shape[:2], -1)
        classes = max(output.shape[1], 2)
        if output.shape[1] == 1:
            predicted = (output[:, 0] > self.logit_thresh).long()
        else:
            predicted = output.argmax(dim=1)
        known = label[:, 0] >= 0
        predicted = one_hot(torch.where(known, predicted, 0), classes) * known.unsqueeze(1)
        truth = one_hot(torch.where(known, label[:, 0].long(), 0), classes) * known.unsqueeze(1)
        start = 1 if self.skip_background else 0
        dice = compute_dice(
            predicted[:, start:], truth[:, start:], include_background=True, ignore_empty=True
        )
        return {**sample, self.tag: torch.nanmean(dice, dim=1)}


@register("metric", "ComputeMulticlassAverage", built_on="clara_tlt")
class ComputeMulticlassAverage(ClaraMetric):
    """Class-averaged accuracy of `(N, K)` scores (argmax) against `(N, K)` one-hot or `(N,)` index labels.

    Per class `k`: the fraction of the cases labelled `k` that are predicted `k` (its recall). `label_index`
    reports that one class; else `auc_average` combines them: `macro` (unweighted mean over classes present),
    `weighted` (by each class's count), `micro` (all cases: plain accuracy).
    """

    def __init__(
        self,
        name: str = "multiclass_average",
        field: str = "model",
        label_field: str = "label",
        auc_average: str = "macro",
        label_index: int | None = None,
        is_key_metric: bool = False,
    ) -> None:
        if auc_average not in ("macro", "weighted", "micro"):
            raise ConfigError(f"auc_average must be 'macro', 'weighted' or 'micro', got {auc_average!r}")
        super().__init__(name=name, field=field, label_field=label_field, is_key_metric=is_key_metric)
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


def one_hot(indices: torch.Tensor, classes: int) -> torch.Tensor:
    """`(N, P)` class indices → `(N, classes, P)` 0/1 floats."""
    return torch.nn.functional.one_hot(indices, classes).movedim(-1, 1).float()
