"""Is a DICOM series whole, and on which grid will `read_series` put it? From headers and file sizes alone.

Every file's header is read (`scan_dicom_folder`): a file whose pixel data holds fewer bytes than its length
says is damaged, and fails its series. The series must form one stack without missing slices (`series_stack`,
the reader's own checks). Compressed (encapsulated) pixel data is not decoded: pydicom's header read fails
on a file cut short inside it, and the reader decodes it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from clara_tlt.errors import ImageReadError
from clara_tlt.io.dicom_geometry import StackGeometry
from clara_tlt.io.dicom_scan import DicomSeries
from clara_tlt.io.dicom_series import file_series, series_stack, single_slice_thickness, the_series
from clara_tlt.io.grid import Grid
from clara_tlt.io.regularize import regular_grid


def dicom_folder_grid(folder: Path) -> Grid:
    """The grid of the one series under `folder`, its files checked whole; ImageReadError otherwise."""
    try:
        return series_grid(the_series(folder))
    except ImageReadError:
        raise
    except Exception as exc:  # NoInputError (no series), ValueError (several series, mixed sizes)
        message = str(exc)
        raise ImageReadError(message if message.startswith(str(folder)) else f"{folder}: {message}") from exc


def dicom_file_grid(path: Path) -> Grid:
    """The grid of a single DICOM file, checked whole; ImageReadError otherwise."""
    try:
        return series_grid(file_series(path))
    except ImageReadError:
        raise
    except ValueError as exc:
        raise ImageReadError(f"{path}: {exc}") from exc


def series_grid(series: DicomSeries) -> Grid:
    """The grid `read_series` gives `series` (the regularised one for an uneven or tilted stack), after the
    reader's own checks of its headers (damaged files, pixel data cut short, missing slices)."""
    geometry, _ = series_stack(series)
    return stack_grid(series, geometry)


def stack_grid(series: DicomSeries, geometry: StackGeometry) -> Grid:
    """Size `(columns, rows, slices)`, spacing, origin and direction of the volume the stack gives."""
    first = geometry.slices[0]
    if geometry.regular:
        count = len(geometry.slices)
        gap = geometry.slice_spacing if count > 1 else single_slice_thickness(series)
        origin = geometry.origin
    else:
        origin, gap, count = regular_grid(geometry)
    return Grid(
        (first.columns, first.rows, count),
        (*geometry.pixel_spacing, float(gap)),
        tuple(float(v) for v in origin),
        tuple(float(v) for v in np.asarray(geometry.direction).ravel()),
    )
