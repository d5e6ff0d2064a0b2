"""Clara loss names mapped onto MONAI/torch losses with Clara's argument names."""

from __future__ import annotations

from monai.losses import DiceLoss
from torch import nn

from clara_tlt.components import register


@register("loss", "Dice", aliases=("dice_loss", "DiceLoss3D"))
def dice(
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
    del data_format
    return DiceLoss(
        include_background=not skip_background,
        to_onehot_y=not is_onehot_targets,
        squared_pred=squared_pred,
        jaccard=jaccard,
        smooth_nr=smooth if top_smooth is None else top_smooth,
        smooth_dr=smooth,
    )


@register("loss", "BinaryClassificationLoss")
def binary_classification(pos_weight: list[float] | None = None) -> nn.Module:
    """Sigmoid cross-entropy on logits `(N, K)` against 0/1 targets `(N, K)` (multi-label classification)."""
    import torch

    weight = torch.tensor(pos_weight, dtype=torch.float32) if pos_weight is not None else None
    return nn.BCEWithLogitsLoss(pos_weight=weight)
