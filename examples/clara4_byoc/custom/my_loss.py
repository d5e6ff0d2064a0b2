"""A custom loss (Clara Train 4.x BYOC): a module called as `loss(prediction, label)`, used as
`"loss": {"path": "my_loss.WeightedDiceCE", "args": {...}}`."""

from __future__ import annotations

import torch
from monai.losses import DiceLoss
from torch import nn


class WeightedDiceCE(nn.Module):
    """Dice plus weighted cross-entropy on logits; the label is one channel of class indices."""

    def __init__(self, dice_weight: float = 1.0, ce_weight: float = 1.0):
        super().__init__()
        self.dice = DiceLoss(to_onehot_y=True, softmax=True)
        self.ce = nn.CrossEntropyLoss()
        self.dice_weight, self.ce_weight = dice_weight, ce_weight

    def forward(self, prediction: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        ce = self.ce(prediction, label[:, 0].long())
        return self.dice_weight * self.dice(prediction, label) + self.ce_weight * ce
