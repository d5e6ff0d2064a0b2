"""Synthetic CT-like volumes: an ellipsoid-ish organ in a body, HU-like intensities, noise, anisotropic spacing.

Arrays are indexed `(x, y, z)` like NIfTI; the affine maps voxel indices to RAS millimetres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

AIR_HU, FAT_HU, SOFT_TISSUE_HU, ORGAN_HU = -1000, -100, 40, 110


@dataclass(frozen=True)
class SyntheticCase:
    """One case: `image` int16 HU `(X, Y, Z)`, `label` uint8 (1 = organ), and the voxel-to-world `affine`."""

    image: np.ndarray
    label: np.ndarray
    affine: np.ndarray

    @property
    def spacing(self) -> tuple[float, float, float]:
        return tuple(float(s) for s in np.linalg.norm(self.affine[:3, :3], axis=0))  # type: ignore[return-value]


def oblique_affine(
    spacing: tuple[float, float, float], origin: tuple[float, float, float], angle_deg: float
) -> np.ndarray:
    """A voxel-to-world affine with `spacing`, rotated by `angle_deg` about the z axis (a non-identity direction)."""
    angle = np.deg2rad(angle_deg)
    rotation = np.array(
        [[np.cos(angle), -np.sin(angle), 0.0], [np.sin(angle), np.cos(angle), 0.0], [0.0, 0.0, 1.0]]
    )
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag(spacing)
    affine[:3, 3] = origin
    return affine


def make_case(
    shape: tuple[int, int, int] = (48, 48, 24),
    spacing: tuple[float, float, float] = (1.5, 1.5, 3.0),
    *,
    seed: int = 0,
    angle_deg: float = 10.0,
    noise_hu: float = 20.0,
) -> SyntheticCase:
    """Make one case: a body ellipse of soft tissue in air with a fat rim, and a lumpy ellipsoid organ.

    The organ's centre, radii and lumps vary with `seed`, so a small dataset has distinct cases.
    Example: `case = make_case((32, 32, 16), seed=3)`; `case.image.dtype == np.int16`.
    """
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*(np.arange(n, dtype=np.float32) for n in shape), indexing="ij"), axis=-1)
    world = grid * np.asarray(spacing, dtype=np.float32)
    extent = np.asarray(shape, dtype=np.float32) * np.asarray(spacing, dtype=np.float32)
    centre = extent / 2

    body_radii = extent * np.array([0.45, 0.38, 0.6], dtype=np.float32)
    body_r = np.sqrt((((world - centre) / body_radii) ** 2)[..., :2].sum(-1))
    image = np.full(shape, AIR_HU, dtype=np.float32)
    image[body_r < 1.0] = FAT_HU
    image[body_r < 0.9] = SOFT_TISSUE_HU

    organ_centre = centre + rng.uniform(-0.12, 0.12, 3).astype(np.float32) * extent
    organ_radii = extent * rng.uniform(0.14, 0.22, 3).astype(np.float32)
    offset = (world - organ_centre) / organ_radii
    direction = offset / (np.linalg.norm(offset, axis=-1, keepdims=True) + 1e-6)
    lumps = 1.0 + 0.12 * np.sin(3 * direction[..., 0] + rng.uniform(0, 6)) * np.cos(2 * direction[..., 1])
    label = (np.linalg.norm(offset, axis=-1) < lumps).astype(np.uint8)
    image[label == 1] = ORGAN_HU

    image += rng.normal(0.0, noise_hu, shape).astype(np.float32)
    image = np.clip(np.rint(image), -1024, 3071).astype(np.int16)
    origin = (-float(centre[0]), -float(centre[1]), -float(centre[2]))
    return SyntheticCase(image=image, label=label, affine=oblique_affine(spacing, origin, angle_deg))
