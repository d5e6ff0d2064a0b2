"""Spatial transforms: resampling by resolution and back, resizing, flips, rotations and zooms.

Random ones draw their parameters once per sample and apply them to every field, so image and label stay
aligned. Integer fields (labels) are resampled with nearest neighbour, float fields linearly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import Flip, Resize, Rotate, Rotate90, Zoom

from clara_tlt.errors import ConfigError
from clara_tlt.transforms.base import (
    ClaraTransform,
    FieldOp,
    FieldsArg,
    FieldTransform,
    RandomFieldTransform,
    apply_channel_first,
    as_meta,
    get_field,
    is_label,
    one_field,
    register_transform,
    spatial_shape,
)

SpatialOp = Callable[[torch.Tensor, bool], Any]  # (x `(C, *spatial)`, x is a label) → x changed
PRE_SCALE_SHAPE = "pre_scale_shape"
PRE_SCALE_AFFINE = "pre_scale_affine"


def _linear_mode(spatial_dims: int) -> str:
    return {1: "linear", 2: "bilinear"}.get(spatial_dims, "trilinear")


def resize(image: Any, shape: Sequence[int], *, nearest: bool | None = None) -> Any:
    """Resize a field to spatial `shape` (any layout), with the affine rescaled to cover the same extent."""
    old = spatial_shape(image)
    shape = [int(s) for s in shape]
    label = is_label(image) if nearest is None else nearest
    floating = torch.is_floating_point(image)
    mode = "nearest-exact" if label else _linear_mode(len(shape))
    resizer = Resize(shape, mode=mode, anti_aliasing=False, dtype=torch.float32)
    out = apply_channel_first(image if floating else image.float(), resizer)
    if not floating:
        out = as_meta(out.round().to(image.dtype))
    out.affine = scaled_affine(image.affine, old, shape)
    return out


def scaled_affine(affine: torch.Tensor, old: Sequence[int], new: Sequence[int]) -> torch.Tensor:
    """Affine of a grid of `new` voxels covering the extent of `old` voxels (voxel centres, align_corners=False)."""
    dims = len(old)
    affine = torch.as_tensor(affine, dtype=torch.float64)
    scale = torch.eye(affine.shape[0], dtype=torch.float64)
    for axis in range(min(dims, affine.shape[0] - 1)):
        s = old[axis] / new[axis]
        scale[axis, axis] = s
        scale[axis, -1] = (s - 1.0) / 2.0
    return affine @ scale


def voxel_spacing(affine: torch.Tensor, dims: int) -> list[float]:
    return [
        float(v) for v in torch.linalg.norm(torch.as_tensor(affine, dtype=torch.float64)[:dims, :dims], dim=0)
    ]


@register_transform("ScaleByResolution", aliases=("ResampleVolume",), built_on="MONAI Spacingd")
class ScaleByResolution(FieldTransform):
    """Resample to `target_resolution` (mm), keeping the extent; remembers the grid for `RestoreOriginalShape`.

    The voxel spacing comes from the affine, or from `resolution` (TLT `ResampleVolume`). Output shape
    `round(shape * spacing / target)`. Labels (integer fields, or `is_label: true` as Clara 3.x writes it)
    take nearest-neighbour values; `is_label: false` interpolates linearly. MONAI: `Spacingd(keys, pixdim=…)`.
    """

    def __init__(
        self,
        fields: FieldsArg,
        target_resolution: Sequence[float] = (1.0, 1.0, 1.0),
        resolution: Sequence[float] | None = None,
        is_label: bool | None = None,
    ) -> None:
        super().__init__(fields)
        self.is_label = is_label
        self.target = [float(v) for v in target_resolution]
        self.resolution = None if resolution is None else [float(v) for v in resolution]
        if any(v <= 0 for v in self.target):
            raise ConfigError(
                f"target_resolution must be positive millimetres, e.g. [1.0, 1.0, 1.0]; got {self.target}"
            )

    def apply(self, image: MetaTensor) -> MetaTensor:
        old = spatial_shape(image)
        if len(self.target) != len(old):
            raise ValueError(
                f"ScaleByResolution: target_resolution has {len(self.target)} values for a {len(old)}-D field"
            )
        spacing = self.resolution or voxel_spacing(image.affine, len(old))
        new = [max(1, round(n * s / t)) for n, s, t in zip(old, spacing, self.target, strict=True)]
        return rescale(image, new, nearest=self.is_label)


@register_transform("ScaleBySpacing", built_on="MONAI Spacingd")
class ScaleBySpacing(ScaleByResolution):
    """Resample to `target_spacing` (mm), keeping the extent: `ScaleByResolution` under another name.

    Clara 3.x lists ScaleBySpacing beside ScaleByResolution without a readable signature; our reading: the same
    resampling, the target voxel size spelled `target_spacing`, the voxel size read from the affine.
    """

    def __init__(
        self,
        fields: FieldsArg,
        target_spacing: Sequence[float] = (1.0, 1.0, 1.0),
        is_label: bool | None = None,
    ) -> None:
        super().__init__(fields, target_resolution=target_spacing, is_label=is_label)


@register_transform("ScaleByFactor", built_on="MONAI Resized")
class ScaleByFactor(FieldTransform):
    """Resize the spatial axes by `factor` (one number, or one per axis): shape `round(shape * factor)`.

    The affine is rescaled so the volume covers the same extent, and the grid is remembered for
    `RestoreOriginalShape`. Labels (integer fields, or `is_label: true`) take nearest-neighbour values.
    Example: `factor: 0.5` turns `(1, 16, 16, 12)` into `(1, 8, 8, 6)` with twice the voxel size.
    MONAI: `Resized(keys, spatial_size=round(shape * factor))`.
    """

    def __init__(
        self, fields: FieldsArg, factor: float | Sequence[float], is_label: bool | None = None
    ) -> None:
        super().__init__(fields)
        self.factor = [float(factor)] if isinstance(factor, (int, float)) else [float(f) for f in factor]
        if not self.factor or any(f <= 0 for f in self.factor):
            raise ConfigError(f"factor must be positive (one number or one per axis), e.g. 0.5; got {factor}")
        self.is_label = is_label

    def apply(self, image: MetaTensor) -> MetaTensor:
        old = spatial_shape(image)
        factors = self.factor * len(old) if len(self.factor) == 1 else self.factor
        if len(factors) != len(old):
            raise ValueError(f"ScaleByFactor: factor has {len(factors)} values for a {len(old)}-D field")
        new = [max(1, round(n * f)) for n, f in zip(old, factors, strict=True)]
        return rescale(image, new, nearest=self.is_label)


def rescale(image: MetaTensor, shape: Sequence[int], *, nearest: bool | None) -> MetaTensor:
    """`resize`, remembering the grid the field had before its first rescaling for `RestoreOriginalShape`."""
    scaled = resize(image, shape, nearest=nearest)
    scaled.meta[PRE_SCALE_SHAPE] = image.meta.get(PRE_SCALE_SHAPE, list(spatial_shape(image)))
    scaled.meta[PRE_SCALE_AFFINE] = image.meta.get(PRE_SCALE_AFFINE, image.affine.clone())
    return scaled


@register_transform("RestoreOriginalShape", built_on="MONAI Invertd")
class RestoreOriginalShape(ClaraTransform):
    """Resample `field` back onto the grid `src_field` had before `ScaleByResolution` (shape and affine).

    `is_label` uses nearest neighbour. Falls back to the grid the source was loaded with. MONAI: `Invertd`.
    """

    def __init__(self, fields: FieldsArg, src_field: str = "image", is_label: bool = False) -> None:
        self.key = one_field(fields)
        self.src_field = src_field
        self.is_label = is_label

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        source = get_field(data, self.src_field, self)
        shape = source.meta.get(PRE_SCALE_SHAPE, source.meta.get("spatial_shape"))
        affine = source.meta.get(PRE_SCALE_AFFINE, source.meta.get("original_affine"))
        if shape is None or affine is None:
            raise KeyError(
                f"RestoreOriginalShape: '{self.src_field}' carries no original grid (load it with LoadNifti)"
            )
        image = get_field(data, self.key, self)
        restored = resize(image, [int(s) for s in shape], nearest=self.is_label)
        restored.affine = torch.as_tensor(np.asarray(affine), dtype=torch.float64)
        return {**data, self.key: restored}


@register_transform("ScaleToShape", aliases=("NPResizeImage",), built_on="MONAI Resized")
class ScaleToShape(FieldTransform):
    """Resize the spatial axes to `target_shape` (TLT `output_shape`). MONAI: `Resized(keys, spatial_size)`."""

    def __init__(
        self,
        fields: FieldsArg,
        *,
        target_shape: Sequence[int] | None = None,
        output_shape: Sequence[int] | None = None,
        data_format: str | None = None,
    ) -> None:
        super().__init__(fields)
        shape = target_shape if target_shape is not None else output_shape
        if not shape:
            raise ConfigError("target_shape (TLT: output_shape) is required, e.g. [256, 256]")
        self.shape = [int(s) for s in shape]
        self.data_format = data_format

    def apply(self, image: MetaTensor) -> MetaTensor:
        return resize(image, self.shape)


class _PerFieldRandom(RandomFieldTransform):
    """A random spatial transform: `spatial_op` draws one op `(x, label)` on `(C, *spatial)` tensors, or None;
    it is applied to every field in its own layout (`label`: the field is a label map, keep it one)."""

    def spatial_op(self, spatial_dims: int) -> SpatialOp | None:
        raise NotImplementedError

    def draw(self, first: MetaTensor) -> FieldOp | None:
        op = self.spatial_op(len(spatial_shape(first)))
        if op is None:
            return None
        return lambda image: apply_channel_first(image, lambda x: op(x, is_label(image)))


class _SometimesRandom(_PerFieldRandom):
    """With `probability`, the op `chosen_op` draws; otherwise no change."""

    def __init__(self, fields: FieldsArg, probability: float = 0.5) -> None:
        super().__init__(fields)
        self.probability = probability

    def chosen_op(self, spatial_dims: int) -> SpatialOp:
        raise NotImplementedError

    def spatial_op(self, spatial_dims: int) -> SpatialOp | None:
        return None if self.R.rand() >= self.probability else self.chosen_op(spatial_dims)


@register_transform("RandomAxisFlip", aliases=("NPRandomFlip3D",), built_on="MONAI RandAxisFlipd")
class RandomAxisFlip(_SometimesRandom):
    """With `probability`, flip along one spatial axis chosen at random. MONAI: `RandAxisFlipd(keys, prob)`."""

    def chosen_op(self, spatial_dims: int) -> SpatialOp:
        flip = Flip(spatial_axis=int(self.R.randint(spatial_dims)))
        return lambda x, _label: flip(x)


@register_transform("FlipAxisRandom", built_on="MONAI RandFlipd per axis")
class FlipAxisRandom(_PerFieldRandom):
    """Flip each spatial axis in `axis` (None: every spatial axis) independently with `probability`.

    MONAI: `RandFlipd(keys, prob, spatial_axis=a)` for each axis `a`; the affine follows the flip.
    """

    def __init__(
        self, fields: FieldsArg, axis: Sequence[int] | None = (0, 1, 2), probability: float = 0.5
    ) -> None:
        super().__init__(fields)
        self.axis = None if axis is None else [int(a) for a in axis]
        self.probability = probability

    def spatial_op(self, spatial_dims: int) -> SpatialOp | None:
        axes = range(spatial_dims) if self.axis is None else self.axis
        chosen = [a for a in axes if self.R.rand() < self.probability]
        if not chosen:
            return None
        flip = Flip(spatial_axis=chosen)
        return lambda x, _label: flip(x)


@register_transform("RandomRotate3D", built_on="MONAI RandRotate90d")
class RandomRotate3D(_SometimesRandom):
    """With `probability`, rotate by 90°, 180° or 270° in a random plane of the three spatial axes.

    Exact (no interpolation), so labels stay labels. MONAI: `RandRotate90d(keys, prob, spatial_axes)` with a
    random plane.
    """

    def chosen_op(self, spatial_dims: int) -> SpatialOp:
        planes = [(a, b) for a in range(spatial_dims) for b in range(a + 1, spatial_dims)]
        plane = planes[int(self.R.randint(len(planes)))]
        rotate = Rotate90(k=int(self.R.randint(1, 4)), spatial_axes=plane)
        return lambda x, _label: rotate(x)


@register_transform("NPRandomRot90_XY", built_on="MONAI RandRotate90d(spatial_axes=(0, 1))")
class RandomRot90XY(_SometimesRandom):
    """With `probability`, rotate by k·90° (k = 1..3) in the plane of the first two spatial axes.

    MONAI: `RandRotate90d(keys, prob, spatial_axes=(0, 1))`.
    """

    def chosen_op(self, spatial_dims: int) -> SpatialOp:
        rotate = Rotate90(k=int(self.R.randint(1, 4)), spatial_axes=(0, 1))
        return lambda x, _label: rotate(x)


@register_transform("RandomRotate2D", aliases=("NP2DRotate",), built_on="MONAI RandRotated")
class RandomRotate2D(_PerFieldRandom):
    """Rotate 2D fields by `angle` degrees, or by a uniform draw in `[-angle, angle]` with `is_random`.

    Keeps the size; zeros fill the corners. MONAI: `RandRotated(keys, range_x=radians(angle), prob=1)`.
    """

    def __init__(
        self,
        fields: FieldsArg,
        *,
        angle: float = 0.0,
        is_random: bool | None = None,
        random: bool | None = None,
    ) -> None:
        super().__init__(fields)
        self.angle = float(angle)
        self.is_random = bool(is_random if is_random is not None else (random or False))

    def spatial_op(self, spatial_dims: int) -> SpatialOp | None:
        degrees = self.R.uniform(-self.angle, self.angle) if self.is_random else self.angle
        if degrees == 0.0:
            return None
        image_rotate = Rotate(
            angle=math.radians(degrees), keep_size=True, mode="bilinear", padding_mode="zeros"
        )
        label_rotate = Rotate(
            angle=math.radians(degrees), keep_size=True, mode="nearest", padding_mode="zeros"
        )

        def apply(x: torch.Tensor, label: bool) -> Any:
            if label:
                return label_rotate(x.float()).round().to(x.dtype)
            return image_rotate(x)

        return apply


@register_transform("NPRandomZoom3D", built_on="MONAI RandZoomd")
class RandomZoom3D(_PerFieldRandom):
    """Zoom each spatial axis by a factor drawn from `[lower_limits[i], upper_limits[i]]`.

    Without `keep_size` the shape changes by the factors. MONAI: `RandZoomd(keys, min_zoom, max_zoom, prob=1)`.
    """

    def __init__(
        self,
        fields: FieldsArg,
        *,
        lower_limits: Sequence[float] = (0.9, 0.9, 0.9),
        upper_limits: Sequence[float] = (1.1, 1.1, 1.1),
        data_format: str = "channels_first",
        use_gpu: bool = False,
        keep_size: bool = False,
    ) -> None:
        super().__init__(fields)
        self.lower, self.upper = zoom_limits(lower_limits, upper_limits)
        self.keep_size = keep_size
        self.use_gpu = use_gpu  # kept for TLT configs; MONAI runs on the tensor's device

    def spatial_op(self, spatial_dims: int) -> SpatialOp | None:
        factors = draw_zoom(self.R, self.lower, self.upper)
        return lambda x, label: zoom(x, factors, label=label, keep_size=self.keep_size)


def zoom_limits(lower: Sequence[float], upper: Sequence[float]) -> tuple[list[float], list[float]]:
    """Per-axis zoom limits as floats, or a ConfigError unless positive, of one length and lower <= upper."""
    low, high = [float(v) for v in lower], [float(v) for v in upper]
    if len(low) != len(high) or any(lo > hi or lo <= 0 for lo, hi in zip(low, high, strict=True)):
        raise ConfigError(
            "lower_limits and upper_limits must be positive, of one length, lower <= upper, e.g. [0.9, 0.9, 0.9] "
            f"and [1.1, 1.1, 1.1]; got {low} and {high}"
        )
    return low, high


def draw_zoom(rng: np.random.RandomState, lower: Sequence[float], upper: Sequence[float]) -> list[float]:
    """One zoom factor per axis, uniform in `[lower[i], upper[i]]`."""
    return [float(rng.uniform(lo, hi)) for lo, hi in zip(lower, upper, strict=True)]


def zoom(x: torch.Tensor, factors: Sequence[float], *, label: bool, keep_size: bool) -> Any:
    """Zoom `x` `(C, *spatial)` by `factors` (labels: nearest neighbour, dtype kept; images: linear).

    `keep_size` crops or zero-pads back to the input shape about the centre; the affine follows either way.
    """
    mode = "nearest-exact" if label else _linear_mode(len(factors))
    zoomer = Zoom(zoom=list(factors), mode=mode, keep_size=keep_size, padding_mode="constant")
    if label:
        return zoomer(x.float()).round().to(x.dtype)
    return zoomer(x)
