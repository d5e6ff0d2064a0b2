"""Pos/neg-ratio crops of a region of interest, optionally rotated, scaled and deformed: TLT's
`TransformVolumeCropROIFastPosNegRatio` and its Clara 3.x name `FastPosNegRatioCropROI`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from monai.transforms import Affine, GridDistortion

from clara_tlt.errors import ConfigError
from clara_tlt.transforms.base import (
    FieldsArg,
    apply_channel_first,
    as_fields,
    is_label,
    register_transform,
)
from clara_tlt.transforms.crop import PosNegCrop, pos_fraction


@register_transform(
    "TransformVolumeCropROIFastPosNegRatio",
    built_on="MONAI RandCropByPosNegLabeld + RandAffined + RandGridDistortiond",
)
class TransformVolumeCropROIFastPosNegRatio(PosNegCrop):
    """A pos/neg-ratio crop of `size` with, optionally, a random rotation (±`rotation_degree` about each
    axis), scaling (±`scale_factor`) and a smooth grid deformation, all resampled once around the centre.

    MONAI: `RandCropByPosNegLabeld` then `RandAffined` (and `RandGridDistortiond` for `deform`).
    """

    def __init__(
        self,
        fields: FieldsArg,
        *,
        size: Sequence[int] = (96, 96, 96),
        deform: bool = False,
        rotation: bool = False,
        rotation_degree: float = 15.0,
        scale: bool = False,
        scale_factor: float = 0.1,
        pos: float = 1.0,
        neg: float = 1.0,
        label_field: str = "label",
        batch_size: int = 1,
    ) -> None:
        super().__init__()
        self.fields = as_fields(fields)
        self.label_field = label_field
        self.size = [int(s) for s in size]
        self.deform, self.rotation, self.scale = deform, rotation, scale
        self.rotation_degree, self.scale_factor = float(rotation_degree), float(scale_factor)
        self.pos_fraction = pos_fraction(pos, neg)
        if int(batch_size) < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        self.batch_size = int(batch_size)

    def __call__(self, data: dict[str, Any]) -> dict[str, Any] | list[dict[str, Any]]:
        """One crop (a sample) for `batch_size` 1, else a list of `batch_size` crops, each with its own
        centre and its own rotation, scaling and deformation."""
        positives = [bool(self.R.rand() < self.pos_fraction) for _ in range(self.batch_size)]
        margin = 1.5 if (self.rotation or self.scale or self.deform) else 1.0
        crops = self.crops(data, positives, size=[math.ceil(s * margin) for s in self.size])
        samples = [self._warped(sample) for sample in crops]
        return samples[0] if self.batch_size == 1 else samples

    def _warped(self, sample: dict[str, Any]) -> dict[str, Any]:
        """`sample`'s crop fields rotated, scaled and deformed (as configured) and cut to `size`."""
        dims = len(self.size)
        degrees = self.rotation_degree if self.rotation else 0.0
        angles = [math.radians(self.R.uniform(-degrees, degrees)) for _ in range(3 if dims == 3 else 1)]
        spread = self.scale_factor if self.scale else 0.0
        scales = [1.0 + self.R.uniform(-spread, spread) for _ in range(dims)]
        steps = [tuple(self.R.uniform(0.9, 1.1, size=4)) for _ in range(dims)] if self.deform else None
        for key in dict.fromkeys((*self.fields, self.label_field)):
            image = sample[key]
            label = is_label(image)
            mode = "nearest" if label else "bilinear"
            affine = Affine(
                rotate_params=angles,
                scale_params=scales,
                spatial_size=self.size,
                mode=mode,
                padding_mode="border",
            )

            def warp(x: torch.Tensor, affine: Affine = affine, mode: str = mode) -> Any:
                y = affine(x.float())[0]
                if steps is not None:
                    y = GridDistortion(num_cells=3, distort_steps=steps, mode=mode)(y)
                return y

            out = apply_channel_first(image, warp)
            sample[key] = out.round().to(image.dtype) if label else out
        return sample


@register_transform("FastPosNegRatioCropROI", built_on="MONAI RandCropByPosNegLabeld + RandAffined")
class FastPosNegRatioCropROI(TransformVolumeCropROIFastPosNegRatio):
    """Clara 3.x's name and arguments for `TransformVolumeCropROIFastPosNegRatio`: one crop of `size` from
    `image_field` (a key or keys) and `label_field`, centred on foreground with odds `pos:neg`, then
    optionally rotated (up to ±`rotation_degree` about each axis), scaled (by 1±`scale_factor`) and deformed;
    images are resampled linearly, labels by nearest neighbour, and the affine follows. `batch_size` > 1 gives
    a list of that many crops of one volume (each `(C, *size)`), as `FastCropByPosNegRatio` does.

    `fast_crop` keeps the label's foreground indices per volume in a caching pipeline (true) or finds them at
    every call (false): the crops are the same either way. Its other arguments are
    `TransformVolumeCropROIFastPosNegRatio`'s. MONAI: `RandCropByPosNegLabeld` then `RandAffined`.
    """

    def __init__(self, *, image_field: FieldsArg = "image", fast_crop: bool = True, **base: Any) -> None:
        super().__init__(image_field, **base)
        self.cache_indices = bool(fast_crop)
