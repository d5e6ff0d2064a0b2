"""Read one DICOM series into a `Volume`: select, sort, decode, regularise when uneven or tilted."""

from __future__ import annotations

import logging
from pathlib import Path

from clara_tlt.errors import ImageReadError, NoInputError
from clara_tlt.io.dicom_files import skip_reason
from clara_tlt.io.dicom_geometry import StackGeometry, select_slices, stack_geometry
from clara_tlt.io.dicom_pixels import decode_slices
from clara_tlt.io.dicom_scan import (
    DicomSeries,
    image_slices,
    public_meta,
    scan_dicom_folder,
    unreadable_reason,
)
from clara_tlt.io.regularize import describe, regularize
from clara_tlt.io.volume import Volume

logger = logging.getLogger(__name__)


def read_series(
    series: DicomSeries, *, label: bool = False, interpolate_missing_slices: bool = False
) -> Volume:
    """The volume of one series; `label` makes regularisation nearest-neighbour.

    ImageReadError when a file of the series is damaged, or when whole slices seem to be missing and
    `interpolate_missing_slices` is not set; ValueError for other series that form no volume (mixed sizes).
    """
    geometry, notes = series_stack(series, interpolate_missing_slices=interpolate_missing_slices)
    voxels = decode_slices(geometry.slices)
    meta = dict(series.meta, NumberOfSourceSlices=len(geometry.slices))
    notes = series.notes + notes
    if geometry.regular:
        spacing_x, spacing_y = geometry.pixel_spacing
        spacing_z = geometry.slice_spacing if len(geometry.slices) > 1 else single_slice_thickness(series)
        return Volume(
            voxels,
            (spacing_x, spacing_y, spacing_z),
            tuple(geometry.origin),
            geometry.direction,
            meta=meta,
            notes=notes,
        )
    regular, origin, gap = regularize(geometry, voxels, label=label)
    note = describe(geometry, regular.shape[0], gap)
    logger.warning("series %s: %s", series.meta.get("SeriesNumber", series.uid), note)
    meta.update(Regularized=True, SourceSliceOffsetsMm=[round(float(h), 4) for h in geometry.offsets[:, 2]])
    return Volume(
        regular,
        (*geometry.pixel_spacing, gap),
        tuple(origin),
        geometry.direction,
        meta=meta,
        notes=[*notes, note],
    )


def series_stack(
    series: DicomSeries, *, interpolate_missing_slices: bool = False
) -> tuple[StackGeometry, list[str]]:
    """The sorted stack a series forms and notes on slices left out, from headers alone: what `read_series`
    decodes and the dry run checks. Raises as `read_series` does for damaged files and missing slices."""
    if series.damaged:
        raise ImageReadError(damaged_message(series))
    slices, notes = select_slices(series.slices)
    geometry = stack_geometry(slices)
    missing = geometry.describe_missing()
    if missing and not interpolate_missing_slices:
        raise ImageReadError(
            f"{series.folders[0]}: {missing}; nothing was written. Find the missing files, or fill the gap "
            f"by interpolating its neighbours: `clara-tlt dataconvert -d {series.folders[0]} -o OUT "
            "--interpolate_missing_slices` (in Python: read_image(..., interpolate_missing_slices=True))"
        )
    return geometry, notes


def damaged_message(series: DicomSeries) -> str:
    """Why a series with damaged files is refused, naming each file (the first ten)."""
    listed = "; ".join(f"{path}: {reason}" for path, reason in list(series.damaged.items())[:10])
    more = f"; and {len(series.damaged) - 10} more" if len(series.damaged) > 10 else ""
    return (
        f"{len(series.damaged)} file(s) of this series cannot be read ({listed}{more}); nothing was written "
        "rather than fill the hole by interpolation. Re-export the series, or move the damaged files out"
    )


def single_slice_thickness(series: DicomSeries) -> float:
    """A lone slice has no gap to measure; like GDCM/ITK: SpacingBetweenSlices, else SliceThickness for CT, else 1."""
    keywords = (
        ("SpacingBetweenSlices", "SliceThickness")
        if series.meta.get("Modality") == "CT"
        else ("SpacingBetweenSlices",)
    )
    for keyword in keywords:
        value = series.meta.get(keyword)
        if isinstance(value, (int, float)) and value > 0:
            return float(value)
    return 1.0


def read_dicom_folder(
    folder: Path, *, label: bool = False, interpolate_missing_slices: bool = False
) -> Volume:
    """The one image series under `folder`; several series or none is an error naming what was found."""
    series = the_series(folder)
    return read_series(series, label=label, interpolate_missing_slices=interpolate_missing_slices)


def file_series(path: Path) -> DicomSeries:
    """The series one DICOM file forms on its own (headers read); ImageReadError when it is no image slice."""
    import pydicom

    try:
        ds = pydicom.dcmread(path, defer_size="1 KB")
    except (pydicom.errors.InvalidDicomError, OSError, ValueError, EOFError) as exc:
        raise ImageReadError(f"{path}: {unreadable_reason(path, exc)}") from exc
    reason = skip_reason(ds)
    if reason:
        raise ImageReadError(f"{path}: {reason}")
    try:
        planes = image_slices(str(path), ds)
    except ValueError as exc:
        raise ImageReadError(f"{path}: {exc}") from exc
    return DicomSeries(str(ds.get("SeriesInstanceUID", path)), planes, public_meta(ds))


def the_series(folder: Path) -> DicomSeries:
    """The one image series under `folder` (headers read); several series or none is an error naming what was
    found, and so is a damaged file beside the series that names another series."""
    scan = scan_dicom_folder(folder)
    if not scan.series:
        problems = "; ".join(f"{p}: {r}" for p, r in scan.unreadable.items()) or "no DICOM image files"
        raise NoInputError(f"{folder}: no readable DICOM image series ({problems})")
    if len(scan.series) > 1:
        listed = ", ".join(f"{s.meta.get('SeriesNumber', '?')} ({len(s.slices)} slices)" for s in scan.series)
        raise ValueError(
            f"{folder}: holds {len(scan.series)} series (SeriesNumber {listed}); "
            "use clara_tlt.io.scan_dicom_folder and read_series to pick one, or convert the folder with dataconvert"
        )
    if scan.unreadable:  # damaged files beside the series that name another series: still not a clean read
        raise ImageReadError(f"{folder}: " + "; ".join(f"{p}: {r}" for p, r in scan.unreadable.items()))
    return scan.series[0]
