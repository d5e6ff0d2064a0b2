"""Clara 3.x random augmentations: spatial flips, zoom, intensity scale and shift, smoothing, bias field.

Clara 3.x's API reference for these is unreadable; each class says what its config arguments mean here, read
from the BraTS augmentation Clara's SegResnet MMARs used (Myronenko 2018) and from MONAI's equivalents.
Spatial ones change every field alike (image and label stay aligned, the affine follows); intensity ones touch
only the fields they are given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from monai.data import MetaTensor
from monai.transforms import GaussianSmooth, RandBiasField

from clara_tlt.errors import ConfigError
from clara_tlt.transforms.base import (
    MAX_SEED,
    FieldOp,
    FieldsArg,
    RandomFieldTransform,
    RandomTransform,
    apply_channel_first,
    get_field,
    register_transform,
    spatial_shape,
    to_channel_first,
)
from clara_tlt.transforms.intensity import as_float
from clara_tlt.transforms.spatial import FlipAxisRandom, draw_zoom, zoom, zoom_limits


def _range(value: Sequence[float], name: str, example: str) -> tuple[float, float]:
    """`[low, high]` with `0 <= low <= high`, or a ConfigError naming the argument."""
    if len(value) != 2 or not 0 <= float(value[0]) <= float(value[1]):
        raise ConfigError(f"{name} must be [low, high] with 0 <= low <= high, e.g. {example}; got {value}")
    return float(value[0]), float(value[1])


@register_transform("RandomSpatialFlip", built_on="MONAI RandFlipd per axis")
class RandomSpatialFlip(FlipAxisRandom):
    """Flip each spatial axis independently with `probability` (default 0.5), every field alike.

    Clara 3.x: `{"fields": ["image", "label"]}`, no other argument; our reading: Myronenko's BraTS augmentation
    (a random flip of each axis with probability 0.5). The affine follows each flip, so the flipped volume still
    lies where it was in world space. MONAI: `RandFlipd(keys, prob, spatial_axis=a)` for each axis `a`.
    """

    def __init__(self, fields: FieldsArg, probability: float = 0.5) -> None:
        super().__init__(fields, axis=None, probability=probability)


@register_transform("ScaleShiftIntensity", built_on="MONAI RandScaleIntensityd + RandStdShiftIntensityd")
class ScaleShiftIntensity(RandomFieldTransform):
    """With `probability` (default: always), `x * (1 + s) + o * std(x)` per channel, with `s` uniform in
    `[-scale, scale]` and `o` uniform in `[-shift, shift]`, drawn for each channel.

    Clara 3.x: `{"fields": "image", "scale": 0.1, "shift": 0.1}`; our reading: Myronenko's BraTS augmentation,
    whose shift is in units of the channel's standard deviation (after `NormalizeNonzeroIntensities` that is
    close to absolute). MONAI: `RandScaleIntensityd(keys, factors=scale)` then
    `RandStdShiftIntensityd(keys, factors=shift)`, per channel.
    """

    def __init__(
        self, fields: FieldsArg, scale: float = 0.1, shift: float = 0.1, probability: float = 1.0
    ) -> None:
        super().__init__(fields)
        if scale < 0 or shift < 0:
            raise ConfigError(f"scale and shift must be at least 0, e.g. 0.1; got {scale} and {shift}")
        self.scale, self.shift, self.probability = float(scale), float(shift), probability

    def draw(self, first: MetaTensor) -> FieldOp | None:
        if self.R.rand() >= self.probability:
            return None
        count = to_channel_first(first)[0].shape[0]
        factors = torch.as_tensor(1.0 + self.R.uniform(-self.scale, self.scale, count), dtype=torch.float32)
        offsets = torch.as_tensor(self.R.uniform(-self.shift, self.shift, count), dtype=torch.float32)

        def scale_shift(x: torch.Tensor) -> torch.Tensor:
            if x.shape[0] != count:
                raise ValueError(f"ScaleShiftIntensity: fields differ in channels ({count} and {x.shape[0]})")
            x = as_float(x)
            per_channel = (-1,) + (1,) * (x.ndim - 1)
            std = x.reshape(count, -1).std(dim=1)
            return x * factors.reshape(per_channel) + (offsets * std).reshape(per_channel)

        return lambda image: apply_channel_first(image, scale_shift)


@register_transform("RandomZoom", built_on="MONAI RandZoomd(keep_size=True)")
class RandomZoom(RandomTransform):
    """With `probability` (default: always), zoom by a factor per spatial axis drawn from
    `[lower_limits[i], upper_limits[i]]`, keeping the shape (crop or zero-pad about the centre).

    `image_field` is interpolated linearly, `label_field` (optional) with nearest neighbour, both by the same
    factors; the affine follows. Clara 3.x: `{"image_field": "image", "label_field": "label", "lower_limits":
    [0.9, 0.9, 0.9], "upper_limits": [1.1, 1.1, 1.1]}`; our reading: TLT's `NPRandomZoom3D` with the shape kept.
    MONAI: `RandZoomd(keys, min_zoom, max_zoom, mode=("trilinear", "nearest"), keep_size=True)`.
    """

    def __init__(
        self,
        image_field: str = "image",
        label_field: str | None = None,
        *,
        lower_limits: Sequence[float] = (0.9, 0.9, 0.9),
        upper_limits: Sequence[float] = (1.1, 1.1, 1.1),
        probability: float = 1.0,
    ) -> None:
        super().__init__()
        self.lower, self.upper = zoom_limits(lower_limits, upper_limits)
        self.image_field, self.label_field = image_field, label_field
        self.probability = probability

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        if self.R.rand() >= self.probability:
            return dict(data)
        image = get_field(data, self.image_field, self)
        if len(self.lower) != len(spatial_shape(image)):
            raise ValueError(
                f"RandomZoom: {len(self.lower)} zoom limits for a {len(spatial_shape(image))}-D '{self.image_field}'"
            )
        factors = draw_zoom(self.R, self.lower, self.upper)
        out = dict(data)
        out[self.image_field] = apply_channel_first(
            image, lambda x: zoom(x, factors, label=False, keep_size=True)
        )
        if self.label_field is not None:
            label = get_field(data, self.label_field, self)
            out[self.label_field] = apply_channel_first(
                label, lambda x: zoom(x, factors, label=True, keep_size=True)
            )
        return out


@register_transform("RandomGaussianSmooth", built_on="MONAI RandGaussianSmoothd")
class RandomGaussianSmooth(RandomFieldTransform):
    """With `probability`, blur with a Gaussian whose sigma (voxels) is drawn per spatial axis from `sigma_range`.

    Clara 3.x names it (no signature readable); our reading: MONAI's `RandGaussianSmoothd(keys, sigma_x=…,
    sigma_y=…, sigma_z=…, prob)` with one range for every axis, and its defaults (sigma 0.25–1.5, probability
    0.1). Every field gets the same sigmas.
    """

    def __init__(
        self,
        fields: FieldsArg,
        sigma_range: Sequence[float] = (0.25, 1.5),
        probability: float = 0.1,
    ) -> None:
        super().__init__(fields)
        self.sigma_range = _range(sigma_range, "sigma_range", "[0.25, 1.5]")
        self.probability = probability

    def draw(self, first: MetaTensor) -> FieldOp | None:
        if self.R.rand() >= self.probability:
            return None
        sigma = [float(self.R.uniform(*self.sigma_range)) for _ in spatial_shape(first)]
        smooth = GaussianSmooth(sigma=sigma)
        return lambda image: apply_channel_first(image, lambda x: smooth(as_float(x)))


@register_transform("RandomMRBiasField", built_on="MONAI RandBiasFieldd")
class RandomMRBiasField(RandomFieldTransform):
    """With `probability`, multiply by a smooth MR bias field: `exp` of a polynomial of `degree` in the
    spatial coordinates, its coefficients uniform in `coeff_range`.

    Clara 3.x names it (no signature readable); our reading: MONAI's `RandBiasFieldd(keys, degree, coeff_range,
    prob)` and its defaults (degree 3, coefficients 0–0.1, probability 0.1). Every field gets the same field.
    """

    def __init__(
        self,
        fields: FieldsArg,
        degree: int = 3,
        coeff_range: Sequence[float] = (0.0, 0.1),
        probability: float = 0.1,
    ) -> None:
        super().__init__(fields)
        if degree < 1:
            raise ConfigError(f"degree must be at least 1, e.g. 3; got {degree}")
        if len(coeff_range) != 2 or float(coeff_range[0]) > float(coeff_range[1]):
            raise ConfigError(
                f"coeff_range must be [low, high] with low <= high, e.g. [0.0, 0.1]; got {coeff_range}"
            )
        self.degree, self.coeff_range = degree, (float(coeff_range[0]), float(coeff_range[1]))
        self.probability = probability

    def draw(self, first: MetaTensor) -> FieldOp | None:
        if self.R.rand() >= self.probability:
            return None
        seed = int(self.R.randint(MAX_SEED))

        def bias(x: torch.Tensor) -> Any:
            field = RandBiasField(degree=self.degree, coeff_range=self.coeff_range, prob=1.0)
            field.set_random_state(seed=seed)  # the same field for every channel-first field of the sample
            return field(as_float(x), randomize=True)

        return lambda image: apply_channel_first(image, bias)
