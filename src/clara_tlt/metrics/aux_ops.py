"""Clara aux ops: computed on each batch after the forward pass, writing fields that metrics read.

An aux op is `op(sample) -> sample`; `sample["model"]` is the network output `(N, K)` (logits for Clara's
classification models) and `sample["label"]` the `(N, K)` 0/1 targets.
"""

from __future__ import annotations

from typing import Any

import torch

from clara_tlt.components import register


def _scores(sample: dict[str, Any], use_sigmoid: bool) -> torch.Tensor:
    output = torch.as_tensor(sample["model"]).float()
    return torch.sigmoid(output) if use_sigmoid else output


@register("metric", "ComputeAccuracy")
class ComputeAccuracy:
    """Per-sample accuracy `(N,)` of multi-label predictions (score > `threshold`) against 0/1 labels, in `tag`."""

    def __init__(
        self,
        tag: str = "accuracy",
        use_sigmoid: bool = True,
        threshold: float = 0.5,
        label_field: str = "label",
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
