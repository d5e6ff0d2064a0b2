"""Clara's Dice aux ops: each case's Dice under a tag (and per class under more tags), for `ComputeAverage`.

An aux op is `op(sample) -> sample`, run on each validation batch after the forward pass: `sample["model"]`
is the network output `(N, C, *spatial)` (after its final activation), `sample[label_field]` the label. A
metric (`ComputeAverage` with `field` = the tag) then averages the per-case values over the validation set.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from monai.metrics import compute_dice

from clara_tlt.errors import ConfigError
from clara_tlt.factory.registry import register
from clara_tlt.learning.data_format import CHANNELS_FIRST, refuse_channels_last


def one_hot(indices: torch.Tensor, classes: int) -> torch.Tensor:
    """`(N, P)` class indices → `(N, classes, P)` 0/1 floats."""
    return torch.nn.functional.one_hot(indices, classes).movedim(-1, 1).float()


class DiceOp:
    """Per-case Dice `(N,)` of the scored classes, averaged over them, under `tags[0]`; per class under the rest.

    Predictions: `is_independent_predictions` reads each channel as its own class (sigmoid outputs,
    class present where score > `logit_thresh`); else the classes are the argmax over channels (`C > 1`) or,
    with one channel, background and foreground split at `logit_thresh`. Labels: `(N, 1, *spatial)` class
    indices, or with `is_onehot_targets` `(N, K, *spatial)` 0/1 channels aligned with the prediction's
    classes. With independent predictions and index labels, channel `k` is class `k + 1` (no background
    channel). `skip_background` leaves the first class out (default: true for argmax outputs, false for
    independent ones, which have no background channel). A class absent from a case's label has no value
    there (left out of the mean). `tags` (Clara 3.x: a list, or one name): first the mean's name, then
    optionally one name per scored class, in order; `tag` (one name) is ours and means the same as one tag.
    """

    masked = False
    default_tag = "dice"

    def __init__(
        self,
        tag: str | None = None,
        tags: Sequence[str] | str | None = None,
        label_field: str = "label",
        skip_background: bool | None = None,
        logit_thresh: float = 0.5,
        is_onehot_targets: bool = False,
        is_independent_predictions: bool = False,
        data_format: str = CHANNELS_FIRST,
    ) -> None:
        if tag is not None and tags is not None:
            raise ConfigError("give tag (one name) or tags (a list of names), not both")
        names = [tags] if isinstance(tags, str) else list(tags or [tag or self.default_tag])
        if not names:
            raise ConfigError("tags is empty: give at least the name of the mean Dice")
        refuse_channels_last(data_format)
        self.tags = names
        self.label_field = label_field
        self.independent = is_independent_predictions
        self.skip_background = not is_independent_predictions if skip_background is None else skip_background
        self.logit_thresh = logit_thresh
        self.onehot_targets = is_onehot_targets

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        output = torch.as_tensor(sample["model"]).detach().float()
        count = output.shape[0]
        label = (
            torch.as_tensor(sample[self.label_field])
            .to(output.device)
            .reshape(count, -1, output[0, 0].numel())
        )
        predicted = self.predicted(output.reshape(*output.shape[:2], -1))
        truth, known = self.truth(label, predicted.shape[1])
        start = 1 if self.skip_background else 0
        dice = compute_dice(
            (predicted * known)[:, start:],
            (truth * known)[:, start:],
            include_background=True,
            ignore_empty=True,
        )
        if len(self.tags) > 1 and len(self.tags) - 1 != dice.shape[1]:
            raise ConfigError(
                f"tags names {len(self.tags) - 1} classes after the mean ({', '.join(self.tags[1:])}), but the "
                f"prediction has {dice.shape[1]} scored classes; give one tag per class, or the mean's alone"
            )
        values = {self.tags[0]: torch.nanmean(dice, dim=1)}
        values.update({tag: dice[:, k] for k, tag in enumerate(self.tags[1:])})
        return {**sample, **values}

    def predicted(self, output: torch.Tensor) -> torch.Tensor:
        """`(N, C, P)` scores → `(N, K, P)` 0/1 class masks."""
        if self.independent:
            return (output > self.logit_thresh).float()
        if output.shape[1] == 1:
            return one_hot((output[:, 0] > self.logit_thresh).long(), 2)
        return one_hot(output.argmax(dim=1), output.shape[1])

    def truth(self, label: torch.Tensor, classes: int) -> tuple[torch.Tensor, torch.Tensor]:
        """`(N, 1 or K, P)` label → (`(N, K, P)` 0/1 class masks, `(N, 1, P)` known voxels)."""
        known = (label >= 0).all(dim=1, keepdim=True)
        if known.logical_not().any() and not self.masked:
            raise ValueError(
                f"{type(self).__name__}: the label has negative (unknown) voxels; use DiceMaskedOutput for "
                "partly annotated labels"
            )
        if self.onehot_targets:
            if label.shape[1] != classes:
                raise ConfigError(
                    f"is_onehot_targets: the label has {label.shape[1]} channels, the prediction {classes} classes"
                )
            return (label > 0.5).float(), known.float()
        indices = torch.where(known[:, 0], label[:, 0].long(), 0)
        if self.independent:
            return one_hot(indices, classes + 1)[:, 1:], known.float()
        return one_hot(indices, classes), known.float()


@register("metric", "DiceMaskedOutput", built_on="monai.metrics.compute_dice")
class DiceMaskedOutput(DiceOp):
    """Dice of partly annotated labels: voxels whose label is negative (`-1`, unknown) are masked out of both
    the prediction and the label before scoring. Arguments and outputs as `DiceOp`'s."""

    masked = True
    default_tag = "dice_masked"


@register("metric", "ComputeDice", built_on="monai.metrics.compute_dice")
class ComputeDice(DiceOp):
    """Each case's Dice under `tag` (Clara 3.x aux op `ComputeDice`); arguments and outputs as `DiceOp`'s.
    A label with negative voxels is an error here (DiceMaskedOutput masks them)."""
