"""Windows placed by geometry alone (random within the image, random size around the centre, centred) and
padding to a multiple: every field of a sample gets the same window, zero-padded where the window leaves
the image, with the affine's origin moved to the window's first voxel (`crop.crop`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from monai.data import MetaTensor

from clara_tlt.errors import ConfigError
from clara_tlt.transforms.base import (
    ClaraTransform,
    FieldOp,
    FieldsArg,
    FieldTransform,
    RandomFieldTransform,
    as_fields,
    get_field,
    register_transform,
    spatial_shape,
)
from clara_tlt.transforms.crop import crop, crop_size, fitted_start


@register_transform(
    "CropRandomSizeWithDisplacement",
    aliases=("CropRandomSubImageInRange",),
    built_on="MONAI RandSpatialCropd(random_size=True)",
)
class CropRandomSizeWithDisplacement(RandomFieldTransform):
    """Crop a region whose size is drawn between `lower_size` (voxels, or a fraction < 1 of the image) and
    the image size, centred up to `max_displacement` voxels from the image centre. 2D or 3D.

    `keep_aspect` draws one fraction for all axes. MONAI: `RandSpatialCropd(keys, roi_size, random_size=True)`.
    """

    def __init__(
        self,
        fields: FieldsArg,
        *,
        lower_size: float | Sequence[float] = 0.9,
        max_displacement: float = 0.0,
        keep_aspect: bool = False,
    ) -> None:
        super().__init__(fields)
        self.lower_size = lower_size
        self.max_displacement = float(max_displacement)
        self.keep_aspect = keep_aspect

    def draw(self, first: MetaTensor) -> FieldOp:
        shape = spatial_shape(first)
        lower = self.lower_size if isinstance(self.lower_size, Sequence) else [self.lower_size] * len(shape)
        low = [round(v * d) if v < 1 else int(v) for v, d in zip(lower, shape, strict=True)]
        if self.keep_aspect:
            fraction = self.R.uniform(max(lo / d for lo, d in zip(low, shape, strict=True)), 1.0)
            size = [max(1, round(fraction * d)) for d in shape]
        else:
            size = [int(self.R.randint(min(lo, d), d + 1)) for lo, d in zip(low, shape, strict=True)]
        shift = [self.R.uniform(-self.max_displacement, self.max_displacement) for _ in shape]
        centre = [round(d / 2 + s) for d, s in zip(shape, shift, strict=True)]
        start = fitted_start(centre, size, shape)
        return lambda image: crop(image, start, size)


@register_transform("CropSubVolumeRandomWithinBounds", built_on="MONAI RandSpatialCropd")
class CropSubVolumeRandomWithinBounds(RandomFieldTransform):
    """A crop of `size` at a uniformly random position inside the image. MONAI: `RandSpatialCropd`."""

    def __init__(self, fields: FieldsArg, size: Sequence[int] = (96, 96, 96)) -> None:
        super().__init__(fields)
        self.size = [int(s) for s in size]

    def draw(self, first: MetaTensor) -> FieldOp:
        shape = spatial_shape(first)
        size = crop_size(self.size, shape)
        start = [
            int(self.R.randint(0, d - n + 1)) if d >= n else (d - n) // 2
            for n, d in zip(size, shape, strict=True)
        ]
        return lambda image: crop(image, start, size)


@register_transform("CropSubVolumeCenter", built_on="MONAI CenterSpatialCropd")
class CropSubVolumeCenter(ClaraTransform):
    """The centred crop of `size` (zero-padded where the image is smaller). MONAI: `CenterSpatialCropd`."""

    def __init__(self, fields: FieldsArg, size: Sequence[int] = (96, 96, 96)) -> None:
        self.fields = as_fields(fields)
        self.size = [int(s) for s in size]

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        shape = spatial_shape(get_field(data, self.fields[0], self))
        size = crop_size(self.size, shape)
        start = [(d - n) // 2 for n, d in zip(size, shape, strict=True)]
        return {**data, **{key: crop(get_field(data, key, self), start, size) for key in self.fields}}


@register_transform("CropFixedSizeRandomCenter", built_on="MONAI RandSpatialCropd")
class CropFixedSizeRandomCenter(CropSubVolumeRandomWithinBounds):
    """One window of `size` (2-D or 3-D, as the image) at a uniformly random place inside the image, the same
    for every one of `fields`. MONAI: `RandSpatialCropd(keys, roi_size=size, random_size=False)`.

    Clara 3.x: `{"fields": ["image", "label"], "size": [64, 64, 64]}`; a size of -1 takes the whole axis.
    Where the image is smaller than `size` on an axis, our reading: the window is still `size`, centred on that
    axis and zero-padded (MONAI would keep the image's smaller side; "fixed size" is what a batch needs).
    """


@register_transform("SymmetricPadderDiv", built_on='MONAI DivisiblePadd(method="symmetric")')
class SymmetricPadderDiv(FieldTransform):
    """Pad each spatial axis of each of `fields` with zeros, evenly on both sides (the odd voxel after), up to
    the next multiple of `div_int` (one number, or one per axis); axes already a multiple are left alone. The
    affine's origin moves back by the voxels added before, so the padded image overlays the original.

    Clara 3.x: `{"fields": ["image", "label"], "div_int": 192}`. (1, 100, 200, 50) with 32 → (1, 128, 224, 64).
    MONAI: `DivisiblePadd(keys, k=div_int, method="symmetric")`.
    """

    def __init__(self, fields: FieldsArg, div_int: int | Sequence[int] = 16) -> None:
        super().__init__(fields)
        self.div_int = [int(div_int)] if isinstance(div_int, int) else [int(k) for k in div_int]
        if not self.div_int or any(k < 1 for k in self.div_int):
            raise ConfigError(f"div_int must be a positive number of voxels, e.g. 16; got {div_int!r}")

    def apply(self, image: MetaTensor) -> MetaTensor:
        shape = spatial_shape(image)
        divisors = self.div_int * len(shape) if len(self.div_int) == 1 else self.div_int
        if len(divisors) != len(shape):
            raise ValueError(
                f"SymmetricPadderDiv: div_int has {len(divisors)} values for a {len(shape)}-D field"
            )
        size = [math.ceil(d / k) * k for d, k in zip(shape, divisors, strict=True)]
        start = [-((n - d) // 2) for n, d in zip(size, shape, strict=True)]
        return crop(image, start, size)
