"""Where the windows go: padding, window slices in slab order, and the slab boundaries along the last axis.

Window positions are MONAI's (`monai.data.utils.dense_patch_slices`, a grid with `int(roi · (1 - overlap))`
between starts, the last window pushed back inside the image). We only reorder them: sorted by their start on
the last spatial axis, so that everything before the next window's start is final and can be released.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from monai.data.utils import dense_patch_slices
from monai.utils import ensure_tuple_rep, fall_back_tuple


@dataclass(frozen=True)
class WindowPlan:
    """The windows over one padded image and the slabs they cut along its last spatial axis.

    `windows`: one `tuple[slice, ...]` per spatial axis each, sorted (stably) by their start on the last axis.
    `boundaries`: the sorted last-axis positions where some window starts or ends, from 0 to the padded size;
    slab `k` is `[boundaries[k], boundaries[k + 1])`, so every window covers whole slabs.
    """

    image_size: tuple[int, ...]
    roi_size: tuple[int, ...]
    pad: tuple[int, ...]
    windows: tuple[tuple[slice, ...], ...]
    boundaries: tuple[int, ...]

    def pad_before(self, axis: int) -> int:
        """Voxels of padding before the image on spatial `axis` (`self.pad` is in `torch.nn.functional.pad` order)."""
        return self.pad[2 * (len(self.image_size) - 1 - axis)]

    def crop(self) -> tuple[slice, ...]:
        """The spatial slices that take the image back out of the padded volume."""
        return tuple(slice(self.pad_before(a), self.pad_before(a) + s) for a, s in enumerate(self.image_size))

    def slabs_of(self, window: tuple[slice, ...]) -> range:
        """The indices of the slabs `window` covers."""
        last = window[-1]
        return range(self.boundaries.index(last.start), self.boundaries.index(last.stop))

    def slab(self, index: int) -> slice:
        return slice(self.boundaries[index], self.boundaries[index + 1])


def plan_windows(
    image_size: Sequence[int], roi_size: Sequence[int] | int, overlap: Sequence[float] | float
) -> WindowPlan:
    """Windows of `roi_size` (non-positive entries: the whole axis) over an image of `image_size`.

    An image smaller than the window on some axis is padded (half before, half after) up to the window.

    >>> plan = plan_windows((10, 7), (4, 4), 0.25)
    >>> plan.pad, len(plan.windows), plan.boundaries
    ((0, 0, 0, 0), 6, (0, 3, 4, 7))
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
    windows = sorted(
        (
            tuple(slice(int(s.start), int(s.stop)) for s in window)
            for window in dense_patch_slices(padded, roi, interval)
        ),
        key=lambda w: w[-1].start,
    )
    boundaries = sorted({w[-1].start for w in windows} | {w[-1].stop for w in windows})
    return WindowPlan(
        image_size=spatial,
        roi_size=roi,
        pad=tuple(pad),
        windows=tuple(windows),
        boundaries=tuple(boundaries),
    )
