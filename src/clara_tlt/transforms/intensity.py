"""Intensity transforms: they touch only the fields they are given (never a label unless named)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import AdjustContrast as MonaiAdjustContrast
from monai.transforms import NormalizeIntensity
from monai.transforms import ScaleIntensityRange as MonaiScaleIntensityRange

from clara_tlt.errors import ConfigError
from clara_tlt.transforms.base import (
    FieldOp,
    FieldsArg,
    FieldTransform,
    RandomFieldTransform,
    apply_channel_first,
    as_meta,
    channel_dim,
    register_transform,
)


def as_float(x: torch.Tensor) -> torch.Tensor:
    """`x`, or `x` as float32 where it holds integers (a label or an 8-bit image)."""
    return x if torch.is_floating_point(x) else x.float()


@register_transform("ScaleIntensityRange", built_on="MONAI ScaleIntensityRanged")
class ScaleIntensityRange(FieldTransform):
    """Map `[a_min, a_max]` linearly onto `[b_min, b_max]` (float32), clipping to it with `clip`.

    MONAI: `ScaleIntensityRanged(keys, a_min, a_max, b_min, b_max, clip)`. Example: CT −57..164 HU → 0..1.
    """

    def __init__(
        self,
        fields: FieldsArg,
        *,
        a_min: float = 0.0,
        a_max: float = 1.0,
        b_min: float = 0.0,
        b_max: float = 1.0,
        clip: bool = False,
    ) -> None:
        super().__init__(fields)
        if a_max == a_min:
            raise ConfigError(
                f"a_max must differ from a_min (both are {a_min}): give the intensity range to map"
            )
        self._scale = MonaiScaleIntensityRange(
            a_min=a_min, a_max=a_max, b_min=b_min, b_max=b_max, clip=bool(clip), dtype=np.float32
        )

    def apply(self, image: MetaTensor) -> MetaTensor:
        return as_meta(self._scale(image))


@register_transform("ScaleIntensityOscillation", built_on="MONAI RandScaleIntensityd(factors=m)")
class ScaleIntensityOscillation(RandomFieldTransform):
    """With `probability` (default: always), multiply by `1 + f`, `f` uniform in `[-magnitude, magnitude]`
    (one draw per sample).

    MONAI: `RandScaleIntensityd(keys, factors=magnitude, prob=probability)`.
    """

    def __init__(self, fields: FieldsArg, magnitude: float = 0.1, probability: float = 1.0) -> None:
        super().__init__(fields)
        if magnitude <= 0:
            raise ConfigError(f"magnitude must be greater than zero, e.g. 0.1; got {magnitude}")
        self.magnitude = float(magnitude)
        self.probability = probability

    def draw(self, first: MetaTensor) -> FieldOp | None:
        if self.R.rand() >= self.probability:
            return None
        factor = self.R.uniform(-self.magnitude, self.magnitude)
        return lambda image: as_float(image) * (1.0 + factor)


@register_transform("CenterData", built_on="MONAI NormalizeIntensityd(channel_wise=True)")
class CenterData(FieldTransform):
    """`(x - subtrahend) / divisor`; a list gives one value per channel; None means the field's mean / std.

    MONAI: `NormalizeIntensityd(keys, subtrahend, divisor, channel_wise=True)`.
    """

    def __init__(
        self,
        fields: FieldsArg,
        subtrahend: float | Sequence[float] | None = None,
        divisor: float | Sequence[float] | None = None,
    ) -> None:
        super().__init__(fields)
        self.subtrahend = subtrahend
        self.divisor = divisor

    def _per_channel(
        self, value: float | Sequence[float], image: torch.Tensor, axis: int | None
    ) -> torch.Tensor:
        tensor = torch.as_tensor(value, dtype=image.dtype)
        if tensor.ndim == 0 or axis is None:
            return tensor.reshape(()) if tensor.numel() == 1 else tensor
        if tensor.numel() != image.shape[axis]:
            raise ValueError(f"CenterData: {tensor.numel()} values for {image.shape[axis]} channels")
        shape = [1] * image.ndim
        shape[axis] = -1
        return tensor.reshape(shape)

    def apply(self, image: MetaTensor) -> torch.Tensor:
        x = as_float(image)
        axis = channel_dim(x)
        sub = x.mean() if self.subtrahend is None else self._per_channel(self.subtrahend, x, axis)
        div = x.std() if self.divisor is None else self._per_channel(self.divisor, x, axis)
        return (x - sub) / div


@register_transform(
    "NormalizeNonzeroIntensities", built_on="MONAI NormalizeIntensityd(nonzero=True, channel_wise=True)"
)
class NormalizeNonzeroIntensities(FieldTransform):
    """Zero mean, unit std over the non-zero voxels of each channel; zeros stay zero.

    MONAI: `NormalizeIntensityd(keys, nonzero=True, channel_wise=True)`.
    """

    def __init__(self, fields: FieldsArg) -> None:
        super().__init__(fields)
        self._normalize = NormalizeIntensity(nonzero=True, channel_wise=True, dtype=np.float32)

    def apply(self, image: MetaTensor) -> MetaTensor:
        return apply_channel_first(image, self._normalize)


@register_transform("AdjustContrast", built_on="MONAI RandAdjustContrastd")
class AdjustContrast(RandomFieldTransform):
    """With `probability`, gamma-correct with `gamma` drawn from `gamma_range`: `(x - min)^g` rescaled to range.

    MONAI: `RandAdjustContrastd(keys, prob, gamma)`.
    """

    def __init__(
        self,
        fields: FieldsArg,
        gamma_range: Sequence[float] = (0.7, 1.5),
        probability: float = 1.0,
    ) -> None:
        super().__init__(fields)
        if len(gamma_range) != 2 or not 0 < gamma_range[0] <= gamma_range[1]:
            raise ConfigError(
                f"gamma_range must be [low, high] with 0 < low <= high, e.g. [0.7, 1.5]; got {gamma_range}"
            )
        self.gamma_range = (float(gamma_range[0]), float(gamma_range[1]))
        self.probability = probability

    def draw(self, first: MetaTensor) -> FieldOp | None:
        if self.R.rand() >= self.probability:
            return None
        adjust = MonaiAdjustContrast(gamma=self.R.uniform(*self.gamma_range))
        return lambda image: as_meta(adjust(as_float(image)))


@register_transform("AddGaussianNoise", built_on="MONAI RandGaussianNoised")
class AddGaussianNoise(RandomFieldTransform):
    """With `probability`, add noise N(`mean`, `std`²) drawn per voxel from the transform's generator.

    Clara 3.1 spells the spread `variance` (std = √variance); give one of `std` and `variance`.
    MONAI: `RandGaussianNoised(keys, prob, mean, std)`.
    """

    def __init__(
        self,
        fields: FieldsArg,
        *,
        mean: float = 0.0,
        std: float | None = None,
        variance: float | None = None,
        probability: float = 1.0,
    ) -> None:
        super().__init__(fields)
        if std is not None and variance is not None:
            raise ConfigError("give the noise's spread once: std or variance (Clara 3.1's name), not both")
        if variance is not None and variance < 0:
            raise ConfigError(f"variance must be at least 0, got {variance}")
        self.mean, self.probability = mean, probability
        self.std = math.sqrt(variance) if variance is not None else 0.1 if std is None else std

    def draw(self, first: MetaTensor) -> FieldOp | None:
        return None if self.R.rand() >= self.probability else self._add_noise

    def _add_noise(self, image: MetaTensor) -> torch.Tensor:
        x = as_float(image)
        noise = self.R.normal(self.mean, self.std, size=tuple(x.shape)).astype("float32")
        return x + torch.from_numpy(noise).to(x.dtype)
