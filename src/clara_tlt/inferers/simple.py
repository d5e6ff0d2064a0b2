"""Whole-volume inference: the network sees the entire input in one forward pass."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from monai.inferers import Inferer

from clara_tlt.inferers.outputs import checked_scores, label_dtype


class SimpleInferer(Inferer):
    """`network(inputs)` on the whole `(N, C_in, *spatial)` input, giving `(N, C_out, *spatial)` scores (or a
    classifier's `(N, K)`).

    With `labels = True` (set by the infer engine, as for `ScanWindowInferer`) it returns the argmax over
    channels instead, `(N, 1, *spatial)` uint8 (int16 beyond 256 classes); ties go to the lowest index.
    """

    def __init__(self, labels: bool = False) -> None:
        super().__init__()
        self.labels = labels

    def __call__(
        self, inputs: torch.Tensor, network: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> torch.Tensor:
        """Extra `args`/`kwargs` go to `network`. Runs without gradients."""
        with torch.no_grad():
            scores = checked_scores(network(inputs, *args, **kwargs), inputs, same_spatial=self.labels)
        if not self.labels:
            return scores
        return scores.argmax(dim=1, keepdim=True).to(label_dtype(scores.shape[1]))
