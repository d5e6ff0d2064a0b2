"""Clara aux ops: computed on each batch after the forward pass, writing fields that metrics read.

An aux op is `op(sample) -> sample`; `sample["model"]` is the network output `(N, K)` (logits for Clara's
classification models) and `sample["label"]` the `(N, K)` 0/1 targets.

Clara 3.x's `do_summary` / `do_print` on an aux op aggregate its value over training steps for TensorBoard /
the console. Here aux ops run on validation batches, and an aux op's value is reported by the metric that
averages it (`ComputeAverage` with `field` = the tag), under that metric's own `do_summary` / `do_print`: the
aux op accepts both flags, and they change nothing.
"""

from __future__ import annotations

from typing import Any

import torch

from clara_tlt.factory.registry import register


def _scores(sample: dict[str, Any], use_sigmoid: bool) -> torch.Tensor:
    output = torch.as_tensor(sample["model"]).float()
    return torch.sigmoid(output) if use_sigmoid else output


@register("metric", "ComputeAccuracy")
class ComputeAccuracy:
    """Per-sample accuracy `(N,)` of multi-label predictions (score > `threshold`) against 0/1 labels, in `tag`.
    `do_summary`, `do_print`: accepted, see the module's note."""

    def __init__(
        self,
        tag: str = "accuracy",
        use_sigmoid: bool = True,
        threshold: float = 0.5,
        label_field: str = "label",
        do_summary: bool = True,
        do_print: bool = True,
    ) -> None:
        self.tag = tag
        self.use_sigmoid = use_sigmoid
        self.threshold = threshold
        self.label_field = label_field

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        scores = _scores(sample, self.use_sigmoid)
        label = torch.as_tensor(sample[self.label_field]).to(scores.device).reshape(scores.shape)
        correct = ((scores > self.threshold).float() == (label > 0.5).float()).float()
        return {**sample, self.tag: correct.reshape(correct.shape[0], -1).mean(dim=1)}


@register("metric", "ComputeBinaryPreds")
class ComputeBinaryPreds:
    """Sigmoid scores `(N, K)` under `binary_preds_name` and the 0/1 labels under `binary_labels_name` (for AUC)."""

    def __init__(
        self,
        binary_preds_name: str = "binary_preds",
        binary_labels_name: str = "binary_labels",
        use_sigmoid: bool = True,
        label_field: str = "label",
    ) -> None:
        self.preds_name = binary_preds_name
        self.labels_name = binary_labels_name
        self.use_sigmoid = use_sigmoid
        self.label_field = label_field

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        scores = _scores(sample, self.use_sigmoid)
        label = torch.as_tensor(sample[self.label_field]).float().reshape(scores.shape)
        return {**sample, self.preds_name: scores, self.labels_name: label}


@register("metric", "ReduceMeanMasked", built_on="clara_tlt")
class ReduceMeanMasked:
    """`sample[tag]` `(N,)`: each case's mean of `field` over the voxels where `mask_field` is non-zero.

    Clara 3.x: aux op `aux_ops.reduce_mean_masked` (signature not published); our reading: a masked mean.
    `field` `(N, C, *spatial)`; `mask_field` `(N, 1, *spatial)` (applied to every channel) or the same shape.
    A case whose mask is empty gets NaN, which `ComputeAverage` leaves out of its mean.
    `do_summary`, `do_print`: accepted, see the module's note.
    """

    def __init__(
        self,
        tag: str = "mean_masked",
        field: str = "model",
        mask_field: str = "label",
        do_summary: bool = True,
        do_print: bool = True,
    ) -> None:
        self.tag = tag
        self.field = field
        self.mask_field = mask_field

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        values = torch.as_tensor(sample[self.field]).detach().float()
        mask = (torch.as_tensor(sample[self.mask_field]).to(values.device) != 0).float()
        if mask.ndim == values.ndim - 1:  # a mask without its channel axis
            mask = mask.unsqueeze(1)
        mask = mask.expand_as(values).reshape(values.shape[0], -1)
        total = (values.reshape(values.shape[0], -1) * mask).sum(dim=1)
        return {**sample, self.tag: total / mask.sum(dim=1)}
