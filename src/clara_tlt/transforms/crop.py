"""Crops placed by the label: positive/negative-ratio crops around label voxels, and foreground-object crops;
the shared `crop` helper. (Windows placed by geometry alone, and padding, are in `crop_fixed`; pos/neg crops
with rotation, scaling and deformation in `crop_roi`.)

Every crop applies one region to all its fields, pads with zeros where the region leaves the image, and
moves the affine's origin to the region's first voxel. The batching pos/neg crops (`FastCropByPosNegRatio`,
`CropByPosNegRatio`, `CropByPosNegRatioLabelOnly`) yield a list of samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms.utils import generate_spatial_bounding_box

from clara_tlt.errors import ConfigError
from clara_tlt.transforms.base import (
    FieldsArg,
    RandomTransform,
    as_fields,
    get_field,
    register_transform,
    spatial_shape,
    to_channel_first,
)
from clara_tlt.transforms.spatial import resize


def crop(image: MetaTensor, start: Sequence[int], size: Sequence[int]) -> MetaTensor:
    """The region `[start, start + size)` of a field (any layout), zero-padded outside the image."""
    cf, restore = to_channel_first(image)
    shape = cf.shape[1:]
    inside = tuple(slice(max(s, 0), min(s + n, d)) for s, n, d in zip(start, size, shape, strict=True))
    region = cf.as_tensor()[(slice(None), *inside)]
    pads: list[int] = []
    for s, n, d in reversed(list(zip(start, size, shape, strict=True))):
        pads += [max(0, -s), max(0, s + n - d)]
    if any(pads):
        region = torch.nn.functional.pad(region, pads)
    translate = torch.eye(cf.affine.shape[0], dtype=torch.float64)
    translate[: len(start), -1] = torch.as_tensor([float(s) for s in start], dtype=torch.float64)
    out = MetaTensor(
        region,
        affine=cf.affine.double() @ translate,
        meta={k: v for k, v in cf.meta.items() if k != "affine"},
    )
    return restore(out)


def fitted_start(centre: Sequence[int], size: Sequence[int], shape: Sequence[int]) -> list[int]:
    """Region start around `centre`, moved inside the image where it fits (centred padding where not)."""
    starts = []
    for c, n, d in zip(centre, size, shape, strict=True):
        starts.append(int(np.clip(c - n // 2, 0, d - n)) if d >= n else (d - n) // 2)
    return starts


def crop_size(size: Sequence[int], shape: Sequence[int]) -> list[int]:
    """`size` with non-positive entries (Clara's −1) meaning the whole axis."""
    if len(size) != len(shape):
        raise ValueError(
            f"crop size {list(size)} has {len(size)} axes; the image has {len(shape)} spatial axes"
        )
    return [d if int(n) <= 0 else int(n) for n, d in zip(size, shape, strict=True)]


def foreground_indices(label: MetaTensor) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices of foreground (any channel > 0) and background voxels of a label field."""
    cf, _ = to_channel_first(label)
    mask = (cf.as_tensor() > 0).any(dim=0).reshape(-1).numpy()
    return np.flatnonzero(mask), np.flatnonzero(~mask)


def pos_fraction(pos: float, neg: float) -> float:
    """The share `pos / (pos + neg)` of crops centred on foreground, or a ConfigError for a ratio that is none."""
    if pos < 0 or neg < 0 or pos + neg <= 0:
        raise ConfigError(
            f"pos and neg must be non-negative and not both zero, e.g. 1 and 1; got {pos} and {neg}"
        )
    return pos / (pos + neg)


class PosNegCrop(RandomTransform):
    """Shared by the pos/neg crops: centre sampling around label voxels.

    With `cache_indices` a caching pipeline keeps each volume's foreground/background indices (fast, but they
    take 8 bytes a voxel); without, they are found again at every call (same crops, less memory).
    """

    fields: tuple[str, ...]
    label_field: str
    size: list[int]
    cache_indices: bool = True

    def precompute(self, data: dict[str, Any]) -> dict[str, Any]:
        """Deterministic part, run once per volume when a pipeline caches: the foreground/background indices."""
        if not self.cache_indices:
            return dict(data)
        label = get_field(data, self.label_field, self)
        fg, bg = foreground_indices(label)
        return {**data, f"{self.label_field}_fg_indices": fg, f"{self.label_field}_bg_indices": bg}

    def _indices(self, data: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        fg = data.get(f"{self.label_field}_fg_indices")
        bg = data.get(f"{self.label_field}_bg_indices")
        if fg is None or bg is None:
            return foreground_indices(get_field(data, self.label_field, self))
        return np.asarray(fg), np.asarray(bg)

    def crops(
        self, data: dict[str, Any], positives: list[bool], size: Sequence[int] | None = None
    ) -> list[dict[str, Any]]:
        label = get_field(data, self.label_field, self)
        shape = spatial_shape(label)
        size = crop_size(self.size if size is None else size, shape)
        fg, bg = self._indices(data)
        base = {k: v for k, v in data.items() if not k.endswith(("_fg_indices", "_bg_indices"))}
        samples = []
        for positive in positives:
            pool = fg if (positive and len(fg)) or not len(bg) else bg
            if not len(pool):
                raise ValueError(f"{type(self).__name__}: '{self.label_field}' is empty")
            centre = np.unravel_index(int(pool[self.R.randint(len(pool))]), shape)
            start = fitted_start([int(c) for c in centre], size, shape)
            sample = dict(base)
            for key in dict.fromkeys((*self.fields, self.label_field)):
                sample[key] = crop(get_field(data, key, self), start, size)
            samples.append(sample)
        return samples


@register_transform("FastCropByPosNegRatio", built_on="MONAI RandCropByPosNegLabeld (+ FgBgToIndicesd)")
class FastCropByPosNegRatio(PosNegCrop):
    """`batch_size` crops of `size` from one volume; `pos:neg` of their centres lie on label foreground.

    `batches_to_gen_at_once` (Clara 3.x) makes that many batches of crops from each loaded volume, so a volume
    is read once for several iterations (the epoch has that many times more batches). The count of positive
    centres is `batch_size·pos/(pos+neg)` per batch, a fractional part decided at random. Foreground indices
    are computed once per volume (cached by the pipelines). Returns a list of samples.
    MONAI: `RandCropByPosNegLabeld(keys, label_key, spatial_size, pos, neg, num_samples)`.
    """

    def __init__(
        self,
        fields: FieldsArg,
        *,
        size: Sequence[int] = (96, 96, 96),
        label_field: str = "label",
        pos: float = 1.0,
        neg: float = 1.0,
        batch_size: int = 1,
        batches_to_gen_at_once: int = 1,
    ) -> None:
        super().__init__()
        self.fields = as_fields(fields)
        self.label_field = label_field
        self.size = [int(s) for s in size]
        self.pos_fraction = pos_fraction(pos, neg)
        self.batch_size = int(batch_size)
        self.batches_to_gen_at_once = int(batches_to_gen_at_once)
        if self.batch_size < 1 or self.batches_to_gen_at_once < 1:
            raise ConfigError(
                f"batch_size and batches_to_gen_at_once must be at least 1, got {batch_size} and "
                f"{batches_to_gen_at_once}"
            )

    def __call__(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        positives: list[bool] = []
        expected = self.batch_size * self.pos_fraction
        for _ in range(self.batches_to_gen_at_once):
            n_pos = math.floor(expected) + int(self.R.rand() < expected - math.floor(expected))
            batch = [True] * n_pos + [False] * (self.batch_size - n_pos)
            self.R.shuffle(batch)
            positives += batch
        return self.crops(data, positives)


@register_transform("CropByPosNegRatio", built_on="MONAI RandCropByPosNegLabeld")
class CropByPosNegRatio(FastCropByPosNegRatio):
    """`FastCropByPosNegRatio` without cached indices: the same crops from the same seed, with the label's
    foreground found again at every call instead of kept per volume (less memory for large volumes).

    Clara 3.x: TLT's `CropSubVolumeBatchPosNegRatio` without `fast_crop`. Returns a list of samples.
    """

    cache_indices = False


@register_transform("CropByPosNegRatioLabelOnly", built_on="MONAI RandCropByPosNegLabeld")
class CropByPosNegRatioLabelOnly(CropByPosNegRatio):
    """`CropByPosNegRatio` of the label field alone: `batch_size` crops of `label_field`, `pos:neg` of them
    centred on its foreground; every other field of the sample is carried into each crop unchanged.

    Clara 3.x names it as the third batching crop without documenting it; our reading: for samples that are a
    label only (label-to-label training), so there is no `fields` argument. To crop an image with the label,
    use `CropByPosNegRatio`. Its other arguments (`size`, `pos`, `neg`, `batch_size`, `batches_to_gen_at_once`)
    are `CropByPosNegRatio`'s. Returns a list of samples.
    """

    def __init__(self, *, label_field: str = "label", **base: Any) -> None:
        super().__init__(label_field, label_field=label_field, **base)


@register_transform("CropSubVolumePosNegRatioCtrlEpoch", built_on="MONAI RandCropByPosNegLabeld")
class CropSubVolumePosNegRatioCtrlEpoch(PosNegCrop):
    """One crop of `size`, centred on foreground with odds `ratio:1`; the ratio moves by `ratio_step` every
    `num_epochs` epochs from `ratio_start` towards `ratio_end` (the pipeline calls `set_epoch`).

    MONAI: `RandCropByPosNegLabeld` with `pos=ratio, neg=1`, updated each epoch.
    """

    def __init__(
        self,
        *,
        image_field: str = "image",
        label_field: str = "label",
        size: Sequence[int] = (96, 96, 96),
        ratio_start: float = 1.0,
        ratio_end: float = 1.0,
        ratio_step: float = 0.0,
        num_epochs: int = 1,
    ) -> None:
        super().__init__()
        self.fields = (image_field,)
        self.label_field = label_field
        self.size = [int(s) for s in size]
        self.ratio_start, self.ratio_end, self.ratio_step = ratio_start, ratio_end, ratio_step
        self.num_epochs = max(1, int(num_epochs))
        self.ratio = float(ratio_start)

    def set_epoch(self, epoch: int) -> None:
        ratio = self.ratio_start + self.ratio_step * (epoch // self.num_epochs)
        low, high = sorted((self.ratio_start, self.ratio_end))
        self.ratio = float(np.clip(ratio, low, high))

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        positive = self.R.rand() < self.ratio / (1.0 + self.ratio)
        return self.crops(data, [positive])[0]


@register_transform("CropForegroundObject", built_on="MONAI CropForegroundd + Resized")
class CropForegroundObject(RandomTransform):
    """Crop the bounding box of the label's object (plus `pad` voxels) and resize it to `size`.

    With `foreground_only` all labels are one object; otherwise one label value is drawn at random. The
    label becomes that object's binary mask (uint8). MONAI: `CropForegroundd(margin=pad)` then `Resized`.
    """

    def __init__(
        self,
        *,
        size: Sequence[int] = (128, 128, 128),
        image_field: str = "image",
        label_field: str = "label",
        pad: int = 0,
        foreground_only: bool = True,
    ) -> None:
        super().__init__()
        self.size = [int(s) for s in size]
        self.image_field, self.label_field = image_field, label_field
        self.pad = int(pad)
        self.foreground_only = foreground_only

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        label = get_field(data, self.label_field, self)
        cf, restore = to_channel_first(label)
        array = cf.as_tensor()
        values = torch.unique(array[array > 0])
        if values.numel() == 0:
            raise ValueError(f"CropForegroundObject: '{self.label_field}' has no foreground voxels")
        mask = array > 0 if self.foreground_only else array == values[int(self.R.randint(values.numel()))]
        start, end = generate_spatial_bounding_box(mask, margin=self.pad, allow_smaller=True)
        box = [e - s for s, e in zip(start, end, strict=True)]
        binary = restore(
            MetaTensor(
                mask.to(torch.uint8),
                affine=cf.affine,
                meta={k: v for k, v in cf.meta.items() if k != "affine"},
            )
        )
        image = crop(get_field(data, self.image_field, self), start, box)
        return {
            **data,
            self.image_field: resize(image, self.size),
            self.label_field: resize(crop(binary, start, box), self.size, nearest=True),
        }
