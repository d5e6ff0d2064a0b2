"""A custom dictionary transform (Clara Train 4.x BYOC): MONAI's `MapTransform`, used as
`{"path": "my_transforms.ClipAndScaled", "args": {...}}` in a pre_transforms list."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform


class ClipAndScaled(MapTransform):
    """Clip each key's intensities to [a_min, a_max] and scale them to [0, 1]."""

    def __init__(self, keys: KeysCollection, a_min: float, a_max: float, allow_missing_keys: bool = False):
        super().__init__(keys, allow_missing_keys)
        self.a_min, self.a_max = float(a_min), float(a_max)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            image = d[key]
            clip = torch.clamp if isinstance(image, torch.Tensor) else np.clip
            d[key] = (clip(image, self.a_min, self.a_max) - self.a_min) / (self.a_max - self.a_min)
        return d
