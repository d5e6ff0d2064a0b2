"""Extreme points (DExtr3D, Maninis et al. 2018): the label's outermost voxels along each axis, as points
for an annotation client or as a Gaussian-heatmap channel beside the image."""

from __future__ import annotations

from typing import Any

import torch
from monai.data import MetaTensor
from monai.transforms.utils import extreme_points_to_image, get_extreme_points

from clara_tlt.errors import ConfigError
from clara_tlt.transforms.base import (
    ClaraTransform,
    RandomTransform,
    as_meta,
    channel_dim,
    get_field,
    register_transform,
    set_layout,
    to_channel_first,
)
from clara_tlt.transforms.labels import torch_dtype


def extreme_points(mask: torch.Tensor) -> list[list[int]]:
    """The 2·N extreme points of a spatial mask `(*spatial)`: min then max along each axis.

    Among voxels tied on an axis the middle one (in scan order) is taken, so the result is deterministic.
    """
    coords = torch.nonzero(mask)
    if coords.shape[0] == 0:
        return []
    points = []
    for axis in range(coords.shape[1]):
        for target in (coords[:, axis].min(), coords[:, axis].max()):
            tied = coords[coords[:, axis] == target]
            points.append([int(v) for v in tied[tied.shape[0] // 2]])
    return points


def _mask(label: Any) -> torch.Tensor:
    cf, _ = to_channel_first(as_meta(label))
    return (cf.as_tensor() > 0).any(dim=0)


@register_transform("AddExtremePointsChannel", built_on="MONAI AddExtremePointsChanneld")
class AddExtremePointsChannel(RandomTransform):
    """Append a channel to `image_field`: Gaussians (`sigma` voxels) at the label's extreme points, the
    heatmap rescaled to `[rescale_min, rescale_max]`. In training `pert` (Clara 3.1: `permutation`) moves each
    point by up to `pert` voxels at random, and ties between extreme voxels are drawn at random too; with
    `pert=0` (validation) the points are those `FetchExtremePoints` reports, so evaluating a checkpoint twice
    gives the same Dice. Points given in
    `points_field` (user clicks at inference) are used instead of the label's. The image with its new channel
    is of type `dtype` (a NumPy name, default `"float32"`).

    Clara 3.1: `points_channel_field` (not described on its API page); our reading: the field holding the
    points, i.e. `points_field`.

    Shapes: image `(C, *spatial)` → `(C + 1, *spatial)`. MONAI: `AddExtremePointsChanneld(keys, label_key,
    sigma, pert, rescale_min, rescale_max)`.
    """

    def __init__(
        self,
        *,
        image_field: str = "image",
        label_field: str = "label",
        sigma: float = 3.0,
        pert: float = 0.0,
        rescale_min: float = -1.0,
        rescale_max: float = 1.0,
        points_field: str | None = None,
        permutation: float | None = None,
        points_channel_field: str | None = None,
        dtype: str = "float32",
    ) -> None:
        super().__init__()
        if permutation is not None and pert:
            raise ConfigError(
                "give the point perturbation once: pert (TLT) or permutation (Clara 3.1), not both"
            )
        if points_channel_field is not None and points_field is not None:
            raise ConfigError(
                "give the points' field once: points_field or points_channel_field (Clara 3.1), not both"
            )
        self.image_field, self.label_field = image_field, label_field
        self.sigma, self.pert = float(sigma), float(pert if permutation is None else permutation)
        self.rescale_min, self.rescale_max = float(rescale_min), float(rescale_max)
        self.points_field = points_field if points_channel_field is None else points_channel_field
        self.dtype = torch_dtype(dtype)

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        image = get_field(data, self.image_field, self)
        cf, restore = to_channel_first(image)
        if self.points_field and data.get(self.points_field):
            points = [tuple(int(v) for v in p) for p in data[self.points_field]]
            reference = torch.zeros((1, *cf.shape[1:]))
        else:
            mask = _mask(get_field(data, self.label_field, self))
            if not mask.any():
                raise ValueError(f"AddExtremePointsChannel: '{self.label_field}' has no foreground voxels")
            points = self._label_points(mask)
            reference = mask[None].float()
        heatmap = extreme_points_to_image(
            points, reference, sigma=self.sigma, rescale_min=self.rescale_min, rescale_max=self.rescale_max
        )
        stacked = torch.cat([cf.as_tensor().float(), heatmap.to(torch.float32)], dim=0).to(self.dtype)
        out = set_layout(
            MetaTensor(stacked, affine=cf.affine, meta={k: v for k, v in cf.meta.items() if k != "affine"}), 0
        )
        return {**data, self.image_field: restore(out) if channel_dim(image) == -1 else out}

    def _label_points(self, mask: torch.Tensor) -> list[tuple[int, ...]]:
        """The mask's extreme points: perturbed and with random ties when `pert` > 0, else deterministic."""
        if self.pert > 0:
            return get_extreme_points(mask.numpy(), rand_state=self.R, background=0, pert=self.pert)
        return [tuple(point) for point in extreme_points(mask)]


@register_transform("FetchExtremePoints", built_on="MONAI get_extreme_points")
class FetchExtremePoints(ClaraTransform):
    """Add field `points`: the extreme points of `label_field` as voxel coordinates `[[i, j, k], ...]`
    (min, max along each axis; `[]` for an empty label). `image_field` names the grid, for the record.

    MONAI: `monai.transforms.utils.get_extreme_points`.
    """

    def __init__(
        self, image_field: str = "image", label_field: str = "model", points: str = "points"
    ) -> None:
        self.image_field, self.label_field, self.points = image_field, label_field, points

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        mask = _mask(get_field(data, self.label_field, self))
        return {**data, self.points: extreme_points(mask)}
