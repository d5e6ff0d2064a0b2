"""Intensity transforms: they touch only the fields they are given (never a label unless named)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from monai.transforms import AdjustContrast as MonaiAdjustContrast
from monai.transforms import NormalizeIntensity
from monai.transforms import ScaleIntensityRange as MonaiScaleIntensityRange

from clara_tlt.transforms.base import (
    ClaraTransform,
    FieldsArg,
    RandomTransform,
    apply_channel_first,
    as_fields,
    as_meta,
    channel_dim,
    get_field,
    register_transform,
)


def _as_float(x: torch.Tensor) -> torch.Tensor:
    return x if torch.is_floating_point(x) else x.float()


@register_transform("ScaleIntensityRange")
class ScaleIntensityRange(ClaraTransform):
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
        self.fields = as_fields(fields)
        if a_max == a_min:
            raise ValueError("a_max must differ from a_min")
        self._scale = MonaiScaleIntensityRange(
            a_min=a_min, a_max=a_max, b_min=b_min, b_max=b_max, clip=bool(clip), dtype=np.float32
        )

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        out = dict(data)
        for key in self.fields:
            out[key] = as_meta(self._scale(get_field(data, key, self)))
        return out


@register_transform("ScaleIntensityOscillation")
class ScaleIntensityOscillation(RandomTransform):
    """Multiply by `1 + f`, `f` drawn uniformly from `[-magnitude, magnitude]` (one draw per sample).

    MONAI: `RandScaleIntensityd(keys, factors=magnitude, prob=1.0)`.
    """

    def __init__(self, fields: FieldsArg, magnitude: float = 0.1) -> None:
        super().__init__()
        self.fields = as_fields(fields)
        if magnitude <= 0:
            raise ValueError("magnitude must be greater than zero")
        self.magnitude = float(magnitude)

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        factor = self.R.uniform(-self.magnitude, self.magnitude)
        out = dict(data)
        for key in self.fields:
            out[key] = _as_float(get_field(data, key, self)) * (1.0 + factor)
        return out


@register_transform("CenterData")
class CenterData(ClaraTransform):
    """`(x - subtrahend) / divisor`; a list gives one value per channel; None means the field's mean / std.

    MONAI: `NormalizeIntensityd(keys, subtrahend, divisor, channel_wise=True)`.
    """

    def __init__(
        self,
        fields: FieldsArg,
        subtrahend: float | Sequence[float] | None = None,
        divisor: float | Sequence[float] | None = None,
    ) -> None:
        self.fields = as_fields(fields)
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

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        out = dict(data)
        for key in self.fields:
            image = _as_float(get_field(data, key, self))
            axis = channel_dim(image)
            sub = image.mean() if self.subtrahend is None else self._per_channel(self.subtrahend, image, axis)
            div = image.std() if self.divisor is None else self._per_channel(self.divisor, image, axis)
            out[key] = (image - sub) / div
        return out


@register_transform("NormalizeNonzeroIntensities")
class NormalizeNonzeroIntensities(ClaraTransform):
    """Zero mean, unit std over the non-zero voxels of each channel; zeros stay zero.

    MONAI: `NormalizeIntensityd(keys, nonzero=True, channel_wise=True)`.
    """

    def __init__(self, fields: FieldsArg) -> None:
        self.fields = as_fields(fields)
        self._normalize = NormalizeIntensity(nonzero=True, channel_wise=True, dtype=np.float32)

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        out = dict(data)
        for key in self.fields:
            out[key] = apply_channel_first(get_field(data, key, self), self._normalize)
        return out


@register_transform("AdjustContrast")
class AdjustContrast(RandomTransform):
    """With `probability`, gamma-correct with `gamma` drawn from `gamma_range`: `(x - min)^g` rescaled to range.

    MONAI: `RandAdjustContrastd(keys, prob, gamma)`.
    """

    def __init__(
        self,
        fields: FieldsArg,
        gamma_range: Sequence[float] = (0.7, 1.5),
        probability: float = 1.0,
    ) -> None:
        super().__init__()
        self.fields = as_fields(fields)
        low, high = gamma_range
        if not 0 < low <= high:
            raise ValueError("gamma_range must be [low, high] with 0 < low <= high")
        self.gamma_range = (float(low), float(high))
        self.probability = probability

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        if self.R.rand() >= self.probability:
            return dict(data)
        adjust = MonaiAdjustContrast(gamma=self.R.uniform(*self.gamma_range))
        out = dict(data)
        for key in self.fields:
            out[key] = as_meta(adjust(_as_float(get_field(data, key, self))))
        return out


@register_transform("AddGaussianNoise")
class AddGaussianNoise(RandomTransform):
    """With `probability`, add noise N(`mean`, `std`²) drawn per voxel from the transform's generator.

    MONAI: `RandGaussianNoised(keys, prob, mean, std)`.
    """

    def __init__(
        self,
        fields: FieldsArg,
        *,
        mean: float = 0.0,
        std: float = 0.1,
        probability: float = 1.0,
    ) -> None:
        super().__init__()
        self.fields = as_fields(fields)
        self.mean, self.std, self.probability = mean, std, probability

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        if self.R.rand() >= self.probability:
            return dict(data)
        out = dict(data)
        for key in self.fields:
            image = _as_float(get_field(data, key, self))
            noise = self.R.normal(self.mean, self.std, size=tuple(image.shape)).astype("float32")
            out[key] = image + torch.from_numpy(noise).to(image.dtype)
        return out
