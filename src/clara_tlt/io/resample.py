"""Resample a `Volume` to a target spacing, keeping its physical extent and orientation.

The output grid has exactly the target spacing, the input's direction, and covers the input's extent (voxel
edges to voxel edges): size = round(extent / target), and the first voxel's corner stays where the input's
was. Linear interpolation for images (integers rounded back to their type, so HU stay integers), nearest
neighbour for labels (so no new label values). SimpleITK does the work, multi-threaded.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from clara_tlt.io.volume import Volume


def target_grid(
    volume: Volume, spacing: tuple[float, float, float]
) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """(size in ITK (x, y, z) order, origin) of the grid at `spacing` covering `volume`'s extent."""
    old = np.asarray(volume.spacing)
    new = np.asarray(spacing, dtype=np.float64)
    extent = np.asarray(volume.size) * old
    size = np.maximum(np.round(extent / new), 1).astype(int)
    origin = np.asarray(volume.origin) + volume.direction @ ((new - old) / 2.0)
    return tuple(int(n) for n in size), tuple(float(o) for o in origin)


def resample_volume(volume: Volume, spacing: tuple[float, float, float], *, label: bool = False) -> Volume:
    """`volume` on a grid of `spacing` mm `(sx, sy, sz)`; `label` → nearest neighbour.

    >>> v = Volume(np.zeros((10, 32, 32), np.int16), spacing=(0.5, 0.5, 2.0))
    >>> resample_volume(v, (1.0, 1.0, 1.0)).shape
    (20, 16, 16)
    """
    if np.allclose(volume.spacing, spacing, rtol=0, atol=1e-9):
        return volume
    size, origin = target_grid(volume, spacing)
    image = volume.to_sitk()
    integer = volume.array.dtype.kind in "iub"
    resampler = sitk.ResampleImageFilter()
    resampler.SetSize(size)
    resampler.SetOutputSpacing(tuple(float(s) for s in spacing))
    resampler.SetOutputOrigin(origin)
    resampler.SetOutputDirection(image.GetDirection())
    resampler.SetInterpolator(sitk.sitkNearestNeighbor if label else sitk.sitkLinear)
    resampler.SetDefaultPixelValue(0.0 if label else float(volume.array.min()))
    if not label and integer:
        resampler.SetOutputPixelType(sitk.sitkFloat32)
    array = sitk.GetArrayFromImage(resampler.Execute(image))
    if not label and integer:
        info = np.iinfo(volume.array.dtype)
        array = np.clip(np.rint(array), info.min, info.max).astype(volume.array.dtype)
    note = f"resampled from {tuple(round(s, 4) for s in volume.spacing)} mm to {tuple(spacing)} mm ({'nearest' if label else 'linear'})"
    return Volume(
        array, tuple(spacing), origin, volume.direction, meta=dict(volume.meta), notes=[*volume.notes, note]
    )
