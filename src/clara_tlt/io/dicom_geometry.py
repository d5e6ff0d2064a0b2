"""Where the slices of a series lie: consistency checks, sorting along the slice normal, and the stack's grid.

Slices are sorted by their position projected on the slice normal (row × column cosines), never by
InstanceNumber or file name. The stack is *regular* when every slice lies on one line along the normal at one
gap; otherwise it is uneven (gaps differ) and/or tilted (slices shift in-plane, as with CT gantry tilt), and
`regularize.py` resamples it onto a regular grid.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clara_tlt.io.dicom_scan import SliceInfo

ORIENTATION_TOLERANCE = 1e-4  # direction cosines that differ by less are the same orientation
POSITION_TOLERANCE_MM = 1e-3  # absolute floor for "same gap" and "no in-plane shift"
GAP_TOLERANCE = 0.01  # relative: gaps within 1 % of the median count as even


@dataclass
class StackGeometry:
    """A sorted stack of parallel slices.

    `direction` columns are the row (x), column (y) and normal (z) cosines in LPS; `offsets[k]` is slice k's
    position relative to slice 0 in that frame, in mm: `(along rows, along columns, along the normal)`.
    """

    slices: list[SliceInfo]
    direction: np.ndarray
    pixel_spacing: tuple[float, float]  # (x, y) mm
    offsets: np.ndarray  # (N, 3)

    @property
    def origin(self) -> np.ndarray:
        return np.asarray(self.slices[0].position, dtype=np.float64)

    @property
    def gaps(self) -> np.ndarray:
        return np.diff(self.offsets[:, 2])

    @property
    def slice_spacing(self) -> float:
        """Mean gap along the normal (first to last over N-1), or the nominal 1 mm for a single slice."""
        n = len(self.slices)
        return float((self.offsets[-1, 2] - self.offsets[0, 2]) / (n - 1)) if n > 1 else 1.0

    @property
    def max_in_plane_shift(self) -> float:
        return float(np.abs(self.offsets[:, :2]).max()) if len(self.slices) else 0.0

    @property
    def tilted(self) -> bool:
        return self.max_in_plane_shift > max(POSITION_TOLERANCE_MM, 0.01 * min(self.pixel_spacing))

    @property
    def uneven(self) -> bool:
        if len(self.slices) < 3:
            return False
        deviation = np.abs(self.gaps - np.median(self.gaps)).max()
        return bool(deviation > max(POSITION_TOLERANCE_MM, GAP_TOLERANCE * float(np.median(self.gaps))))

    @property
    def missing_slices(self) -> list[tuple[int, int]]:
        """`(k, m)` for each gap after sorted slice k that is a whole m ≥ 2 times the smallest gap (within
        GAP_TOLERANCE of it): m - 1 slices are likely missing there, not acquired further apart."""
        if len(self.slices) < 3:
            return []
        usual = float(self.gaps.min())
        tolerance = max(POSITION_TOLERANCE_MM, GAP_TOLERANCE * usual)
        multiples = np.rint(self.gaps / usual).astype(int)
        return [
            (k, int(m))
            for k, (gap, m) in enumerate(zip(self.gaps, multiples, strict=True))
            if m >= 2 and abs(gap - m * usual) <= tolerance
        ]

    def describe_missing(self) -> str:
        """dcm2niix-style "missing slices?" sentence naming where the gaps are, or '' when there are none."""
        missing = self.missing_slices
        if not missing:
            return ""
        usual = float(self.gaps.min())
        heights = self.offsets[:, 2]
        where = "; ".join(
            f"{Path(self.slices[k].path).name} → {Path(self.slices[k + 1].path).name}: "
            f"{heights[k + 1] - heights[k]:.3f} mm = {m} × {usual:.3f} mm"
            for k, m in missing[:5]
        )
        count = sum(m - 1 for _, m in missing)
        more = f" and {len(missing) - 5} more gaps" if len(missing) > 5 else ""
        return f"missing slices? {count} slice(s) seem to be missing ({where}{more})"

    @property
    def regular(self) -> bool:
        return not (self.tilted or self.uneven)

    @property
    def tilt_degrees(self) -> float:
        """Angle between the stacking line (first → last slice) and the slice normal."""
        if len(self.slices) < 2:
            return 0.0
        step = self.offsets[-1] - self.offsets[0]
        return float(np.degrees(np.arctan2(np.hypot(step[0], step[1]), abs(step[2]))))


def _orientation_key(s: SliceInfo) -> tuple[float, ...]:
    return tuple(round(v / ORIENTATION_TOLERANCE) * ORIENTATION_TOLERANCE for v in s.orientation)


def select_slices(slices: list[SliceInfo]) -> tuple[list[SliceInfo], list[str]]:
    """Keep the slices that form the volume; returns them and notes on what was dropped.

    Slices with a minority orientation (scouts saved in the series) are dropped with a note. Mixed image
    sizes or pixel spacings among the rest cannot form one volume: ValueError says which and how many.
    """
    notes: list[str] = []
    by_orientation = Counter(_orientation_key(s) for s in slices)
    if len(by_orientation) > 1:
        keep_key, _ = by_orientation.most_common(1)[0]
        dropped = [s for s in slices if _orientation_key(s) != keep_key]
        slices = [s for s in slices if _orientation_key(s) == keep_key]
        notes.append(f"skipped {len(dropped)} slice(s) with another orientation (localizer-like)")
    sizes = Counter((s.rows, s.columns) for s in slices)
    if len(sizes) > 1:
        listed = ", ".join(f"{c}×{r} ({n} slices)" for (r, c), n in sizes.most_common())
        raise ValueError(f"mixed image sizes in one series: {listed}; move the odd slices to another folder")
    spacings = Counter(tuple(round(v, 4) for v in s.pixel_spacing) for s in slices)
    if len(spacings) > 1:
        listed = ", ".join(f"{p} ({n} slices)" for p, n in spacings.most_common())
        raise ValueError(
            f"mixed pixel spacings in one series: {listed}; move the odd slices to another folder"
        )
    return slices, notes


def stack_geometry(slices: list[SliceInfo]) -> StackGeometry:
    """Sort `slices` along their normal and measure the stack. Two slices at one position: ValueError."""
    if not slices:
        raise ValueError("no image slices")
    cosines = np.asarray(slices[0].orientation, dtype=np.float64)
    row, column = cosines[:3], cosines[3:]
    row, column = row / np.linalg.norm(row), column / np.linalg.norm(column)
    normal = np.cross(row, column)
    normal /= np.linalg.norm(normal)
    direction = np.stack([row, column, normal], axis=1)
    positions = np.asarray([s.position for s in slices], dtype=np.float64)
    order = np.argsort(positions @ normal, kind="stable")
    ordered = [slices[k] for k in order]
    offsets = (positions[order] - positions[order[0]]) @ direction
    if len(ordered) > 1 and np.min(np.diff(offsets[:, 2])) < POSITION_TOLERANCE_MM:
        k = int(np.argmin(np.diff(offsets[:, 2])))
        raise ValueError(
            f"two slices share one position ({ordered[k].path}, {ordered[k + 1].path}): a multi-echo, "
            "multi-phase or duplicated series; split it into one folder per echo/phase"
        )
    spacing_y, spacing_x = slices[0].pixel_spacing
    return StackGeometry(ordered, direction, (float(spacing_x), float(spacing_y)), offsets)
