"""A custom network (Clara Train 4.x BYOC): any `torch.nn.Module`, used as
`"model": {"path": "my_network.TinySegNet", "args": {...}}`."""

from __future__ import annotations

import torch
from torch import nn


class TinySegNet(nn.Module):
    """Two 3D convolutions: a fully convolutional segmenter for inputs of any size."""

    def __init__(self, in_channels: int = 1, out_channels: int = 2, features: int = 4):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv3d(in_channels, features, kernel_size=3, padding=1),
            nn.BatchNorm3d(features),
            nn.ReLU(),
            nn.Conv3d(features, out_channels, kernel_size=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)
