"""Resample an uneven or tilted slice stack onto a regular grid (what dcm2niix calls tilt/gap correction).

The output grid keeps the slices' row and column axes, stacks along the true slice normal, spans the first to
the last slice with N slices at the median gap (rounded so the ends land on input slices), and keeps the
in-plane matrix centred on the mean in-plane shift of the input slices. Each output voxel is linear in-plane
(bilinear within a slice) and linear between the two input slices around it; labels take the nearest voxel
of the nearest slice so no new label values appear. Voxels no input slice covers get the volume's minimum.
"""

from __future__ import annotations

import numpy as np

from clara_tlt.io.dicom_geometry import StackGeometry


def _shift_plane(
    plane: np.ndarray, *, shift_rows: float, shift_cols: float, fill: float, nearest: bool
) -> np.ndarray:
    """`out[j, i] = plane[j + shift_rows, i + shift_cols]`, bilinear (or nearest), `fill` outside."""
    if nearest:
        shift_rows, shift_cols = float(np.round(shift_rows)), float(np.round(shift_cols))
    rows, cols = plane.shape
    base_r, base_c = int(np.floor(shift_rows)), int(np.floor(shift_cols))
    frac_r, frac_c = shift_rows - base_r, shift_cols - base_c
    out = np.zeros((rows, cols), dtype=np.float64)
    for dr, wr in ((0, 1.0 - frac_r), (1, frac_r)):
        for dc, wc in ((0, 1.0 - frac_c), (1, frac_c)):
            weight = wr * wc
            if weight == 0.0:
                continue
            r0, c0 = base_r + dr, base_c + dc  # source index of out[0, 0]
            src_r = slice(max(r0, 0), min(rows + r0, rows))
            src_c = slice(max(c0, 0), min(cols + c0, cols))
            dst_r = slice(src_r.start - r0, src_r.stop - r0)
            dst_c = slice(src_c.start - c0, src_c.stop - c0)
            shifted = np.full((rows, cols), fill, dtype=np.float64)
            if src_r.stop > src_r.start and src_c.stop > src_c.start:
                shifted[dst_r, dst_c] = plane[src_r, src_c]
            out += weight * shifted
    return out


def regular_grid(geometry: StackGeometry) -> tuple[np.ndarray, float, int]:
    """The regular grid's origin (LPS mm), slice gap and slice count."""
    extent = float(geometry.offsets[-1, 2] - geometry.offsets[0, 2])
    median_gap = float(np.median(geometry.gaps))
    count = max(round(extent / median_gap) + 1, 2)
    gap = extent / (count - 1)
    centre = geometry.offsets[:, :2].mean(axis=0)
    origin = geometry.origin + geometry.direction[:, :2] @ centre
    return origin, gap, count


def regularize(
    geometry: StackGeometry, voxels: np.ndarray, *, label: bool
) -> tuple[np.ndarray, np.ndarray, float]:
    """Voxels `(N, Y, X)` of a sorted irregular stack → `(regular voxels (M, Y, X), origin, gap)`.

    The output dtype is the input's (integers are rounded back), so HU stay integers and labels stay labels.
    """
    origin, gap, count = regular_grid(geometry)
    fill = float(voxels.min())
    centre = geometry.offsets[:, :2].mean(axis=0)
    sx, sy = geometry.pixel_spacing
    planes = [
        _shift_plane(
            voxels[k],
            shift_rows=(centre[1] - geometry.offsets[k, 1]) / sy,
            shift_cols=(centre[0] - geometry.offsets[k, 0]) / sx,
            fill=fill,
            nearest=label,
        )
        for k in range(voxels.shape[0])
    ]
    heights = geometry.offsets[:, 2]
    out = np.empty((count, *voxels.shape[1:]), dtype=voxels.dtype)
    for m in range(count):
        height = m * gap
        k = int(np.clip(np.searchsorted(heights, height, side="right") - 1, 0, len(heights) - 2))
        weight = float(np.clip((height - heights[k]) / (heights[k + 1] - heights[k]), 0.0, 1.0))
        if label:
            value = planes[k + 1] if weight >= 0.5 else planes[k]
        else:
            value = (1.0 - weight) * planes[k] + weight * planes[k + 1]
        out[m] = np.rint(value) if voxels.dtype.kind in "iub" else value
    return out, origin, gap


def describe(geometry: StackGeometry, count: int, gap: float) -> str:
    """One sentence saying what regularisation did, for logs and sidecars."""
    parts = []
    if geometry.tilted:
        parts.append(
            f"gantry tilt / in-plane shift up to {geometry.max_in_plane_shift:.2f} mm "
            f"({geometry.tilt_degrees:.1f}°) corrected by shifting each slice in-plane"
        )
    if geometry.missing_slices:
        parts.append(f"{geometry.describe_missing()}: interpolated (interpolate_missing_slices)")
    elif geometry.uneven:
        gaps = geometry.gaps
        parts.append(f"uneven slice gaps ({gaps.min():.3f}-{gaps.max():.3f} mm) resampled")
    return (
        "; ".join(parts) + f": {len(geometry.slices)} slices → {count} slices at an even {gap:.4f} mm "
        "along the slice normal (linear interpolation; nearest for labels)"
    )
