"""Read a plain NIfTI file in one checked pass: our decompression, ITK's geometry.

ITK's NIfTI reader zero-fills data that ends early and turns NaN/infinite float voxels into zeros (see
integrity.py). For the common file — 3-D, or 4-D with channels along the 4th axis (MSD BraTS), no
scl_slope/scl_inter scaling — the voxels are read here instead: the stream is decompressed once with every gzip
trailer checked, the bytes the header promises must all be there, and float voxels keep their NaN for
`read_image` to refuse or replace. ITK reads only the header (ReadImageInformation), so spacing, origin and
direction are exactly what its full reader gives. Other NIfTI files (scaled, 2-D, 5-D, RGB) take ITK's full
reader with `scan_nifti` beside it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from clara_tlt.io.integrity import ends_early
from clara_tlt.io.volume import Volume
from clara_tlt.written import nifti_layout, stream_chunks

PIXEL_IDS = {
    np.dtype(np.int8): sitk.sitkInt8,
    np.dtype(np.uint8): sitk.sitkUInt8,
    np.dtype(np.int16): sitk.sitkInt16,
    np.dtype(np.uint16): sitk.sitkUInt16,
    np.dtype(np.int32): sitk.sitkInt32,
    np.dtype(np.uint32): sitk.sitkUInt32,
    np.dtype(np.int64): sitk.sitkInt64,
    np.dtype(np.uint64): sitk.sitkUInt64,
    np.dtype(np.float32): sitk.sitkFloat32,
    np.dtype(np.float64): sitk.sitkFloat64,
}


def read_plain_nifti(path: Path) -> list[Volume] | None:
    """The volumes of an unscaled 3-D NIfTI file (one) or 4-D one (one per channel, the 4th axis), or None
    when it needs ITK's full reader. The channels share the geometry of the first three axes.

    Raises ImageReadError (naming the file) when the stream is damaged or ends before the voxels do.
    """
    layout = nifti_layout(path)
    if layout is None or layout.scaled or len(layout.shape) not in (3, 4):
        return None
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        return None  # ITK's full read reports the problem in its own words
    native = layout.dtype.newbyteorder("=")
    if (
        reader.GetDimension() != len(layout.shape)
        or reader.GetNumberOfComponents() != 1
        or tuple(reader.GetSize()) != layout.shape
        or PIXEL_IDS.get(native) != reader.GetPixelID()
    ):
        return None
    buffer = bytearray(layout.nbytes)
    position = 0  # of the chunk's first byte in the uncompressed stream
    for chunk in stream_chunks(path):  # read to the end: the last gzip trailer is checked there
        start, stop = max(layout.offset, position), min(layout.end, position + len(chunk))
        if start < stop:
            buffer[start - layout.offset : stop - layout.offset] = chunk[start - position : stop - position]
        position += len(chunk)
    if position < layout.end:
        raise ends_early(path, position, layout.end)
    array = np.frombuffer(buffer, dtype=layout.dtype).reshape((-1, *layout.shape[2::-1]))  # (C, Z, Y, X)
    dimension = reader.GetDimension()
    direction = np.array(reader.GetDirection()).reshape(dimension, dimension)[:3, :3]
    return [
        Volume(
            channel if layout.dtype == native else channel.astype(native),
            spacing=reader.GetSpacing()[:3],
            origin=reader.GetOrigin()[:3],
            direction=direction,
        )
        for channel in array
    ]
