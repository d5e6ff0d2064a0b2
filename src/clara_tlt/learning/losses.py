"""Clara loss names mapped onto MONAI/torch losses with Clara's argument names.

Segmentation losses take the network's probabilities `(N, C, ...)` (Clara's networks end in their
`final_activation`) and integer labels `(N, 1, ...)`, or one-hot targets with `is_onehot_targets`.
"""

from __future__ import annotations

from typing import Any

import torch
from monai.losses import DiceLoss
from monai.networks import one_hot
from torch import nn

from clara_tlt.errors import ConfigError
from clara_tlt.factory.arguments import forwards
from clara_tlt.factory.registry import register
from clara_tlt.learning.data_format import refuse_channels_last


@register("loss", "Dice", aliases=("dice_loss", "DiceLoss3D"), built_on="monai.losses.DiceLoss")
def dice(
    *,
    skip_background: bool = False,
    squared_pred: bool = False,
    jaccard: bool = False,
    smooth: float = 1e-5,
    top_smooth: float | None = None,
    is_onehot_targets: bool = False,
    data_format: str = "channels_first",
) -> nn.Module:
    """Soft Dice on probabilities `(N, C, ...)` against integer labels `(N, 1, ...)` (or one-hot when
    `is_onehot_targets`), as Clara's Dice: the network's final activation makes the probabilities."""
    refuse_channels_last(data_format)
    return DiceLoss(
        include_background=not skip_background,
        to_onehot_y=not is_onehot_targets,
        squared_pred=squared_pred,
        jaccard=jaccard,
        smooth_nr=smooth if top_smooth is None else top_smooth,
        smooth_dr=smooth,
    )


@register("loss", "BinaryClassificationLoss", built_on="torch.nn.BCEWithLogitsLoss")
def binary_classification(pos_weight: list[float] | None = None) -> nn.Module:
    """Sigmoid cross-entropy on logits `(N, K)` against 0/1 targets `(N, K)` (multi-label classification)."""
    weight = torch.tensor(pos_weight, dtype=torch.float32) if pos_weight is not None else None
    return nn.BCEWithLogitsLoss(pos_weight=weight)


def _one_hot_like(targets: torch.Tensor, predictions: torch.Tensor, *, is_onehot: bool) -> torch.Tensor:
    """Integer labels `(N, 1, ...)` → one-hot `(N, C, ...)` matching `predictions`; one-hot targets as they are."""
    if is_onehot:
        return targets.float()
    return one_hot(targets.long(), num_classes=predictions.shape[1])


class ProbabilityLoss(nn.Module):
    """Base of Clara's segmentation losses on probabilities `(N, C, ...)` (the network's softmax) against integer
    labels `(N, 1, ...)` or one-hot targets; `skip_background` leaves channel 0 out."""

    def __init__(self, *, skip_background: bool, is_onehot_targets: bool, smooth: float) -> None:
        super().__init__()
        self.skip_background = skip_background
        self.is_onehot_targets = is_onehot_targets
        self.smooth = smooth

    def terms(self, predictions: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(probabilities, one-hot targets), background channel dropped when asked."""
        onehot = _one_hot_like(targets, predictions, is_onehot=self.is_onehot_targets)
        if self.skip_background:
            return predictions[:, 1:], onehot[:, 1:]
        return predictions, onehot


@register("loss", "CrossEntropy", aliases=("cross_entropy_loss",), built_on="clara_tlt")
class CrossEntropy(ProbabilityLoss):
    """Categorical cross-entropy of probabilities `(N, C, ...)`: −mean over voxels of Σ_c y_c · log(p_c + smooth)."""

    def __init__(
        self,
        data_format: str = "channels_first",
        skip_background: bool = False,
        smooth: float = 1e-8,
        is_onehot_targets: bool = False,
    ) -> None:
        refuse_channels_last(data_format)
        super().__init__(skip_background=skip_background, is_onehot_targets=is_onehot_targets, smooth=smooth)

    def forward(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        p, y = self.terms(predictions, targets)
        return -(y * torch.log(p + self.smooth)).sum(dim=1).mean()


@register("loss", "Focal", aliases=("focal_loss",), built_on="clara_tlt")
class Focal(ProbabilityLoss):
    """Focal loss on probabilities `(N, C, ...)`: −mean of Σ_c α_c · y_c · (1 − p_c)^γ · log(p_c + smooth).

    `alpha` weighs the classes (one value per kept channel, or one for all); `gamma` 0 is cross-entropy.
    """

    def __init__(
        self,
        data_format: str = "channels_first",
        skip_background: bool = False,
        gamma: float = 2.0,
        alpha: float | list[float] | None = None,
        smooth: float = 1e-8,
        is_onehot_targets: bool = False,
    ) -> None:
        refuse_channels_last(data_format)
        super().__init__(skip_background=skip_background, is_onehot_targets=is_onehot_targets, smooth=smooth)
        if gamma < 0:
            raise ConfigError(f"gamma must be at least 0, got {gamma}")
        self.gamma = gamma
        self.alpha = None if alpha is None else torch.as_tensor(alpha, dtype=torch.float32)

    def forward(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        p, y = self.terms(predictions, targets)
        per_class = y * (1 - p).pow(self.gamma) * torch.log(p + self.smooth)
        if self.alpha is not None:
            weight = self.alpha.to(p.device)
            if weight.ndim == 1:
                if weight.numel() != p.shape[1]:
                    raise ConfigError(f"alpha has {weight.numel()} values for {p.shape[1]} classes")
                weight = weight.view(1, -1, *([1] * (p.ndim - 2)))
            per_class = per_class * weight
        return -per_class.sum(dim=1).mean()


@register("loss", "MulticlassClassificationLoss", built_on="torch.nn.CrossEntropyLoss")
def multiclass_classification() -> nn.Module:
    """Softmax cross-entropy of logits `(N, K)` against class indices `(N,)` or `(N, 1)`."""
    return ClassIndexLoss(nn.CrossEntropyLoss())


@register("loss", "WeightedMulticlassClassificationLoss", built_on="torch.nn.CrossEntropyLoss")
def weighted_multiclass_classification(class_weights: list[float] | None = None) -> nn.Module:
    """Class-weighted softmax cross-entropy of logits `(N, K)` against class indices; unweighted without weights."""
    weight = None if class_weights is None else torch.tensor(class_weights, dtype=torch.float32)
    return ClassIndexLoss(nn.CrossEntropyLoss(weight=weight))


class ClassIndexLoss(nn.Module):
    """Class indices `(N, 1)` or `(N,)` (integers or floats from the label pipeline) → `(N,)` long for `loss`."""

    def __init__(self, loss: nn.Module) -> None:
        super().__init__()
        self.loss = loss

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.loss(logits, targets.reshape(targets.shape[0]).long())


# The arguments a combined loss passes to its cross-entropy or focal part as well as to its Dice part (`smooth`
# stays Dice's: the other part keeps its own).
BOTH_PARTS = ("data_format", "skip_background", "is_onehot_targets")


def _for_both(dice_args: dict[str, Any]) -> dict[str, Any]:
    """Those of a combined loss's `Dice` arguments that its other part takes too (they mean the same)."""
    return {name: value for name, value in dice_args.items() if name in BOTH_PARTS}


class SumOfLosses(nn.Module):
    """The sum of two losses on the same `(predictions, targets)`."""

    def __init__(self, first: nn.Module, second: nn.Module) -> None:
        super().__init__()
        self.first = first
        self.second = second

    def forward(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.first(predictions, targets) + self.second(predictions, targets)


@register("loss", "CrossEntropyDice", built_on="clara_tlt")
@forwards(dice)
def cross_entropy_dice(**dice_args: Any) -> nn.Module:
    """Clara 3.x `CrossEntropyDice` (our reading: the sum, weights 1 and 1): `CrossEntropy` + `Dice` on
    probabilities `(N, C, ...)`; it takes `Dice`'s arguments, those the two share meaning the same for both."""
    return SumOfLosses(CrossEntropy(**_for_both(dice_args)), dice(**dice_args))


@register("loss", "FocalDice", built_on="clara_tlt")
@forwards(dice)
def focal_dice(gamma: float = 2.0, alpha: float | list[float] | None = None, **dice_args: Any) -> nn.Module:
    """Clara 3.x `FocalDice` (our reading: the sum, weights 1 and 1): `Focal` (`gamma`, `alpha`) + `Dice` on
    probabilities `(N, C, ...)`; the rest as for `CrossEntropyDice`."""
    return SumOfLosses(Focal(gamma=gamma, alpha=alpha, **_for_both(dice_args)), dice(**dice_args))
