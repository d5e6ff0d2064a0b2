"""`Grid`: where an image's voxels lie (size, spacing, origin, direction), read from headers alone, and the
tolerances within which an image and its label count as lying on one grid.

Two grids match when their sizes are equal and, axis by axis, spacings differ by at most SPACING_TOLERANCE
relative, origins by at most ORIGIN_TOLERANCE × the spacing (in mm), and direction cosines by at most
DIRECTION_TOLERANCE: looser than float32 round-off in headers, far tighter than a misregistered label.

>>> Grid((32, 32, 16), (1.5, 1.5, 3.0), (0, 0, 0), (1, 0, 0, 0, 1, 0, 0, 0, 1)).mismatch(
...     Grid((32, 32, 16), (1.5, 1.5, 3.0), (0, 0, 0.5), (1, 0, 0, 0, 1, 0, 0, 0, 1)))
'origin differs'
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SPACING_TOLERANCE = 1e-3  # relative
ORIGIN_TOLERANCE = 1e-3  # times the spacing, in mm
DIRECTION_TOLERANCE = 1e-4  # absolute, on each direction cosine


@dataclass(frozen=True)
class Grid:
    """The spatial grid of an image in ITK's terms: `size` `(X, Y[, Z])`, `spacing` mm, `origin` LPS mm of the
    first voxel's centre, `direction` row-major (columns are the axes in LPS); channels are not part of it."""

    size: tuple[int, ...]
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: tuple[float, ...]

    def mismatch(self, other: Grid) -> str | None:
        """What differs between two grids beyond the tolerances (size first), or None when they match."""
        if self.size != other.size:
            return "size differs"
        spacing, other_spacing = np.asarray(self.spacing), np.asarray(other.spacing)
        if np.any(np.abs(spacing - other_spacing) > SPACING_TOLERANCE * np.abs(spacing)):
            return "spacing differs"
        if np.any(np.abs(np.subtract(self.origin, other.origin)) > ORIGIN_TOLERANCE * np.abs(spacing)):
            return "origin differs"
        if np.any(np.abs(np.subtract(self.direction, other.direction)) > DIRECTION_TOLERANCE):
            return "direction differs"
        return None

    def describe(self) -> str:
        """`32×32×16 voxels of 1.5×1.5×3 mm, origin (0, 0, 0) mm, direction [1 0 0; 0 1 0; 0 0 1]` (LPS)."""
        dims = len(self.size)
        rows = np.round(np.reshape(self.direction, (dims, dims)), 4) + 0.0  # + 0.0: no "-0"
        direction = "; ".join(" ".join(f"{v:g}" for v in row) for row in rows)
        return (
            f"{'×'.join(map(str, self.size))} voxels of {'×'.join(f'{s:g}' for s in self.spacing)} mm, "
            f"origin ({', '.join(f'{o:g}' for o in self.origin)}) mm, direction [{direction}]"
        )


def spatial_grid(
    size: tuple[int, ...], spacing: tuple[float, ...], origin: tuple[float, ...], direction: tuple[float, ...]
) -> Grid:
    """The grid of the first three axes of an ITK header (a 4-D NIfTI's channels lie along the 4th)."""
    dims = len(size)
    kept = min(dims, 3)
    matrix = np.reshape(direction, (dims, dims))[:kept, :kept]
    return Grid(
        tuple(int(n) for n in size[:kept]),
        tuple(float(s) for s in spacing[:kept]),
        tuple(float(o) for o in origin[:kept]),
        tuple(float(v) for v in matrix.ravel()),
    )
