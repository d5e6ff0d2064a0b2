"""Where the windows go: padding, window slices, their visiting order, and the cells that tell which part of
the image is final after which window.

Window positions are MONAI's (`monai.data.utils.dense_patch_slices`: a grid with `int(roi · (1 - overlap))`
between starts, the last window on each axis pushed back to end at the border). Cut along an axis, the image
splits at every window start and stop on it; a cell is final after the last window that covers it. Because
the windows form a grid, the number of windows covering a voxel is the product of per-axis counts.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from monai.data.utils import dense_patch_slices
from monai.utils import ensure_tuple_rep, fall_back_tuple

Cell = tuple[int, ...]
Region = tuple[slice, ...]


@dataclass(frozen=True)
class WindowPlan:
    """The windows over one padded image, the cells they cut, and when each cell is final.

    `windows`: one slice per spatial axis each, in `visiting_order`. `boundaries[axis]`: where cells split on
    that axis (`(0, size)` on an uncut axis); cell `(i, j, …)` spans `[boundaries[0][i], boundaries[0][i+1]) × …`.
    `releases[w]`: the cells whose last covering window is window `w`. `counts[axis][x]`: how many window
    starts on `axis` cover position `x`; their product over the axes is the number of windows covering a voxel.
    """

    image_size: tuple[int, ...]
    roi_size: tuple[int, ...]
    pad: tuple[int, ...]
    windows: tuple[Region, ...]
    boundaries: tuple[tuple[int, ...], ...]
    releases: tuple[tuple[Cell, ...], ...]
    counts: tuple[tuple[int, ...], ...]

    def pad_before(self, axis: int) -> int:
        """Voxels of padding before the image on spatial `axis` (`self.pad` is in `torch.nn.functional.pad` order)."""
        return self.pad[2 * (len(self.image_size) - 1 - axis)]

    def crop(self) -> Region:
        """The spatial slices that take the image back out of the padded volume."""
        return tuple(slice(self.pad_before(a), self.pad_before(a) + s) for a, s in enumerate(self.image_size))

    def cell(self, cell: Cell) -> Region:
        """The cell's region in the padded image."""
        return cell_region(self.boundaries, cell)

    def cells_of(self, window: Region) -> Iterator[tuple[Cell, Region, Region]]:
        """The cells `window` overlaps, each with the overlap as a region of the cell and of the window."""
        return cells_of(self.boundaries, window)


def cell_region(boundaries: tuple[tuple[int, ...], ...], cell: Cell) -> Region:
    return tuple(slice(b[i], b[i + 1]) for b, i in zip(boundaries, cell, strict=True))


def cells_of(
    boundaries: tuple[tuple[int, ...], ...], window: Region
) -> Iterator[tuple[Cell, Region, Region]]:
    ranges = [
        range(bisect.bisect_right(b, s.start) - 1, bisect.bisect_left(b, s.stop))
        for b, s in zip(boundaries, window, strict=True)
    ]
    for cell in itertools.product(*ranges):
        region = cell_region(boundaries, cell)
        overlap = [(max(r.start, s.start), min(r.stop, s.stop)) for r, s in zip(region, window, strict=True)]
        in_cell = tuple(slice(a - r.start, b - r.start) for (a, b), r in zip(overlap, region, strict=True))
        in_window = tuple(slice(a - s.start, b - s.start) for (a, b), s in zip(overlap, window, strict=True))
        yield cell, in_cell, in_window


def visiting_order(windows: Sequence[Region]) -> tuple[Region, ...]:
    """Rows along the axis with the most window starts, one after the other; within a row, windows by their
    start on the axis with the next most, then on the row axis, then on the rest.

    A row is one window start on the row axis, except that a last start pushed back closer to its predecessor
    than the regular interval joins the predecessor's row: visited apart, the two rows would keep their whole
    (deep) overlap open; visited together, only the regular `overlap · roi` band stays open between rows.
    """
    axes = outer_axes(windows)
    outer = sorted({w[axes[0]].start for w in windows})
    row = {start: i for i, start in enumerate(outer)}
    if len(outer) > 2 and outer[-1] - outer[-2] < outer[1] - outer[0]:
        row[outer[-1]] = row[outer[-2]]
    inner = [axes[1], axes[0], *axes[2:]] if len(axes) > 1 else axes
    return tuple(sorted(windows, key=lambda w: (row[w[axes[0]].start], *(w[axis].start for axis in inner))))


def outer_axes(windows: Sequence[Region]) -> list[int]:
    """The spatial axes by how many window starts they have, most first (ties: lower axis first)."""
    starts = [len({w[axis].start for w in windows}) for axis in range(len(windows[0]))]
    return sorted(range(len(starts)), key=lambda axis: -starts[axis])


def plan_windows(
    image_size: Sequence[int], roi_size: Sequence[int] | int, overlap: Sequence[float] | float, *, cut: bool
) -> WindowPlan:
    """Windows of `roi_size` (non-positive entries: the whole axis) over an image of `image_size`.

    An image smaller than the window on some axis is padded (half before, half after) up to the window.
    `cut`: split the image into cells along the two outer visiting axes, so that parts can be released as they
    become final; otherwise the whole image is one cell, final after the last window.

    >>> plan = plan_windows((10, 7), (4, 4), 0.25, cut=True)
    >>> plan.pad, len(plan.windows), plan.boundaries, plan.counts[1]
    ((0, 0, 0, 0), 6, ((0, 3, 4, 6, 7, 10), (0, 3, 4, 7)), (1, 1, 1, 2, 1, 1, 1))
    """
    spatial = tuple(int(s) for s in image_size)
    roi = tuple(int(r) for r in fall_back_tuple(roi_size, spatial))
    overlaps = ensure_tuple_rep(overlap, len(spatial))
    pad: list[int] = []
    for axis in reversed(range(len(spatial))):
        missing = max(roi[axis] - spatial[axis], 0)
        pad += [missing // 2, missing - missing // 2]
    padded = tuple(max(s, r) for s, r in zip(spatial, roi, strict=True))
    interval = tuple(
        r if r == s else max(int(r * (1 - o)), 1) for s, r, o in zip(padded, roi, overlaps, strict=True)
    )
    windows = visiting_order(
        [
            tuple(slice(int(s.start), int(s.stop)) for s in w)
            for w in dense_patch_slices(padded, roi, interval)
        ]
    )
    starts = [sorted({w[axis].start for w in windows}) for axis in range(len(spatial))]
    cut_axes = outer_axes(windows)[:2] if cut else []
    boundaries = tuple(
        tuple(sorted({x for s in starts[axis] for x in (s, s + roi[axis])}))
        if axis in cut_axes
        else (0, size)
        for axis, size in enumerate(padded)
    )
    last: dict[Cell, int] = {}
    for index, window in enumerate(windows):
        for cell, _, _ in cells_of(boundaries, window):
            last[cell] = index
    releases: list[list[Cell]] = [[] for _ in windows]
    for cell, index in last.items():
        releases[index].append(cell)
    counts = tuple(
        tuple(sum(s <= x < s + roi[axis] for s in starts[axis]) for x in range(size))
        for axis, size in enumerate(padded)
    )
    return WindowPlan(
        image_size=spatial,
        roi_size=roi,
        pad=tuple(pad),
        windows=windows,
        boundaries=boundaries,
        releases=tuple(tuple(cells) for cells in releases),
        counts=counts,
    )
