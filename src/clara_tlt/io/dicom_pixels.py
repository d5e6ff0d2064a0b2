"""Decode the pixel data of sorted slices into one array and apply RescaleSlope/Intercept.

Compressed transfer syntaxes (JPEG 2000, JPEG-LS, JPEG lossless, RLE) decode through pydicom's pixel
handlers (pylibjpeg with its openjpeg and libjpeg plugins). Integer slopes and intercepts keep integer voxels
(CT Hounsfield units stay exact integers); any fractional slope or intercept gives float32.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pydicom

from clara_tlt.errors import ImageReadError
from clara_tlt.io.dicom_scan import SliceInfo


def _frames_by_file(slices: list[SliceInfo]) -> dict[str, list[tuple[int, SliceInfo]]]:
    wanted: dict[str, list[tuple[int, SliceInfo]]] = defaultdict(list)
    for index, info in enumerate(slices):
        wanted[info.path].append((index, info))
    return wanted


def _read_frames(path: str) -> np.ndarray:
    try:
        ds = pydicom.dcmread(path)
        array = ds.pixel_array
    except Exception as exc:  # pydicom raises many types for truncated or undecodable data
        raise ImageReadError(f"{path}: cannot decode pixel data ({type(exc).__name__}: {exc})") from exc
    return array if array.ndim == 3 else array[np.newaxis]


def _read_native(info: SliceInfo) -> np.ndarray:
    """Uncompressed pixels straight from the file (no second DICOM parse); BitsStored < BitsAllocated handled."""
    layout = info.native
    assert layout is not None
    dtype = np.dtype(layout.dtype)
    count = info.rows * info.columns
    with open(info.path, "rb") as handle:
        handle.seek(layout.offset)
        data = handle.read(count * dtype.itemsize)
    if len(data) != count * dtype.itemsize:
        raise ImageReadError(
            f"{info.path}: cannot decode pixel data (file truncated: {len(data)} of {count * dtype.itemsize} bytes)"
        )
    plane = np.frombuffer(data, dtype=dtype).reshape(info.rows, info.columns)
    unused = dtype.itemsize * 8 - layout.bits_stored
    if 0 < unused < dtype.itemsize * 8:
        plane = (
            (plane << unused) >> unused
            if dtype.kind == "i"
            else plane & np.array((1 << layout.bits_stored) - 1, dtype)
        )
    return plane


def _output_dtype(
    raw_dtype: np.dtype, slopes: np.ndarray, intercepts: np.ndarray, low: float, high: float
) -> np.dtype:
    if np.all(slopes == 1) and np.all(intercepts == 0):
        return raw_dtype
    if np.all(slopes == np.round(slopes)) and np.all(intercepts == np.round(intercepts)):
        for candidate in (np.int16, np.int32):
            info = np.iinfo(candidate)
            if info.min <= low and high <= info.max:
                return np.dtype(candidate)
    return np.dtype(np.float32)


def decode_slices(slices: list[SliceInfo]) -> np.ndarray:
    """Voxels of `slices` (already sorted) as `(N, rows, columns)`, rescaled to modality units."""
    raw: np.ndarray | None = None
    for path, wanted in _frames_by_file(slices).items():
        fast = all(info.native is not None for _, info in wanted)
        frames = None if fast else _read_frames(path)
        for index, info in wanted:
            frame = _read_native(info) if frames is None else frames[info.frame or 0]
            if frame.shape != (info.rows, info.columns):
                raise ImageReadError(
                    f"{path}: pixel data is {frame.shape}, header says {(info.rows, info.columns)}"
                )
            if raw is None:
                raw = np.empty((len(slices), info.rows, info.columns), dtype=frame.dtype)
            elif not np.can_cast(frame.dtype, raw.dtype):  # e.g. a uint16 slice among int16 ones: never wrap
                raw = raw.astype(np.promote_types(raw.dtype, frame.dtype))
            raw[index] = frame
    assert raw is not None
    slopes = np.array([s.slope for s in slices])
    intercepts = np.array([s.intercept for s in slices])
    bounds = np.array([raw.min(), raw.max()], dtype=np.float64)
    ends = np.concatenate(
        [bounds * slopes.min() + intercepts.min(), bounds * slopes.max() + intercepts.max()]
    )
    dtype = _output_dtype(raw.dtype, slopes, intercepts, float(ends.min()), float(ends.max()))
    if np.all(slopes == 1) and np.all(intercepts == 0):
        return raw if dtype == raw.dtype else raw.astype(dtype)
    # integral slope and intercept: exact integer arithmetic; otherwise float32
    work = (np.int64 if dtype.itemsize > 2 else np.int32) if dtype.kind == "i" else np.float32
    slope: np.ndarray = slopes.astype(work)[:, None, None]
    intercept: np.ndarray = intercepts.astype(work)[:, None, None]
    if np.all(slopes == slopes[0]) and np.all(intercepts == intercepts[0]):
        slope, intercept = slope[0, 0, 0], intercept[0, 0, 0]
    return (raw.astype(work) * slope + intercept).astype(dtype)
