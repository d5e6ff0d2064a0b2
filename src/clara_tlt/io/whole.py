"""Is an image file whole? Its header read, its data's length checked, compressed streams inflated to their
checked end, never decoded into arrays: fast enough for a dry run over thousands of cases.

What `check_whole` checks, per form (the grid it returns comes from the same header reads):
- NIfTI (`.nii`, `.nii.gz`): every byte the header promises is there, every gzip member's CRC and length
  trailer matches, and float voxels hold no NaN or infinity (`integrity.scan_nifti`, which the reader uses).
- MetaImage (`.mha`, `.mhd` + `.raw`/`.zraw`) and NRRD (`.nrrd`, inline or detached `data file`): the data
  holds the bytes the header promises; a compressed stream (zlib, gzip) is complete with its trailer checked.
- A DICOM series folder or file: the header of every file is read, the series forms one stack without
  missing slices, and every uncompressed slice holds its whole pixel data (`dicom_whole`).
- NumPy and picture files: their header (NumPy) or format is read; they carry no grid.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from clara_tlt.errors import ImageReadError
from clara_tlt.io.arrays import array_suffix
from clara_tlt.io.grid import Grid, spatial_grid
from clara_tlt.io.image import ITK_SUFFIXES, NIFTI_SUFFIXES, NO_GEOMETRY_SUFFIXES, NUMPY_SUFFIXES, itk_reason
from clara_tlt.io.integrity import refuse_nonfinite, scan_nifti
from clara_tlt.io.volume import lps_geometry
from clara_tlt.written import ZLIB_OR_GZIP_WBITS, gzip_chunks, nifti_layout

HEADER_BYTES = 1 << 16  # MetaImage and NRRD headers are text well under this


def check_whole(path: str | Path) -> Grid | None:
    """The grid of the image at `path` (None for NumPy and picture files, which have none), after checking
    that it can be read whole; ImageReadError (naming the file, the cause and the fix) when it cannot."""
    path = Path(path)
    if path.is_dir():
        from clara_tlt.io.dicom_files import find_dicom_files
        from clara_tlt.io.dicom_whole import dicom_folder_grid

        if not find_dicom_files(path):
            raise ImageReadError(f"{path}: a folder without DICOM files (a series folder is expected)")
        return dicom_folder_grid(path)
    if not path.is_file():
        raise ImageReadError(f"{path}: does not exist")
    suffix = array_suffix(path)
    if suffix in NIFTI_SUFFIXES:
        return _nifti_grid(path)
    if suffix in ITK_SUFFIXES:
        return _itk_grid(path, suffix)
    if suffix in NO_GEOMETRY_SUFFIXES:
        _check_no_geometry(path, suffix)
        return None
    from clara_tlt.io.dicom_files import looks_like_dicom
    from clara_tlt.io.dicom_whole import dicom_file_grid

    if looks_like_dicom(path):
        return dicom_file_grid(path)
    raise ImageReadError(f"{path}: not an image format clara-tlt reads (unknown suffix)")


def _nifti_grid(path: Path) -> Grid:
    """A NIfTI's grid from nibabel's header read (sform, else qform, as ITK chooses; ITK's own header read of a
    `.nii.gz` costs a decompression), after `scan_nifti`; ITK's reader reports a header nibabel refuses."""
    layout = nifti_layout(path)
    nonfinite = scan_nifti(path, layout)
    if nonfinite:
        raise refuse_nonfinite(nonfinite, path)
    if layout is None:
        return _itk_grid(path, ".nii")
    spacing, origin, direction = lps_geometry(layout.affine)
    kept = min(len(layout.shape), 3)
    return Grid(
        layout.shape[:kept],
        spacing[:kept],
        origin[:kept],
        tuple(float(v) for v in direction[:kept, :kept].ravel()),
    )


def _itk_grid(path: Path, suffix: str) -> Grid:
    """The grid from ITK's header read; a MetaImage's or NRRD's data checked against the bytes it promises
    (a NIfTI's data is `_nifti_grid`'s to check)."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise ImageReadError(f"{path}: cannot read its header: {itk_reason(exc)}") from exc
    components = reader.GetNumberOfComponents()
    item = sitk.Image([1, 1], reader.GetPixelID(), components).GetSizeOfPixelComponent()
    nbytes = int(np.prod(reader.GetSize(), dtype=np.int64)) * components * item
    if suffix in (".mha", ".mhd"):
        _check_data(path, nbytes, *_metaimage_data(path))
    elif suffix == ".nrrd":
        _check_data(path, nbytes, *_nrrd_data(path))
    return spatial_grid(reader.GetSize(), reader.GetSpacing(), reader.GetOrigin(), reader.GetDirection())


def _header_lines(path: Path, *, stop: re.Pattern[bytes]) -> tuple[dict[str, str], int]:
    """The `key = value` / `key: value` fields of a text header up to the line matching `stop` (included),
    keys lower-case; and the byte offset just past that line (where inline data starts)."""
    with path.open("rb") as handle:
        head = handle.read(HEADER_BYTES)
    fields: dict[str, str] = {}
    offset = 0
    for line in head.splitlines(keepends=True):
        offset += len(line)
        text = line.decode("latin-1").strip()
        match = re.match(r"^([^:=]+?)\s*(?::=|=|:)\s*(.*)$", text)
        if match:
            fields.setdefault(match.group(1).lower(), match.group(2))
        if stop.match(line.rstrip(b"\r\n")):
            break
    return fields, offset


def _metaimage_data(path: Path) -> tuple[Path | None, int, bool]:
    """Where a MetaImage keeps its data: (file or None when several files hold it, offset, compressed)."""
    fields, offset = _header_lines(path, stop=re.compile(rb"^\s*ElementDataFile\s*=", re.I))
    compressed = fields.get("compresseddata", "false").lower() == "true"
    name = fields.get("elementdatafile", "")
    if name.upper() == "LOCAL":
        return path, offset, compressed
    if not name or name.upper().startswith("LIST") or "%" in name or " " in name:
        return None, 0, compressed  # data split over slice files: ITK's reader checks them
    skip = int(fields.get("headersize", "0") or 0)
    return path.parent / name, max(skip, 0) if skip != -1 else -1, compressed


def _nrrd_data(path: Path) -> tuple[Path | None, int, bool]:
    """Where an NRRD keeps its data: (file or None when unchecked here, offset, gzip-compressed)."""
    fields, offset = _header_lines(path, stop=re.compile(rb"^$"))
    encoding = fields.get("encoding", "raw").lower()
    name = fields.get("data file") or fields.get("datafile")
    if encoding not in ("raw", "gzip", "gz") or int(fields.get("line skip", "0") or 0):
        return None, 0, False  # text, hex, bzip2 or skipped lines: ITK's reader checks them
    if name:
        if name.upper().startswith("LIST") or " " in name or "%" in name:
            return None, 0, False
        skip = int(fields.get("byte skip", "0") or 0)
        return path.parent / name, skip if skip >= 0 else -1, encoding != "raw"
    return path, offset, encoding != "raw"


def _check_data(path: Path, nbytes: int, data: Path | None, offset: int, compressed: bool) -> None:
    """The data file `data` holds `nbytes` from `offset` (-1: the last `nbytes` of the file), or as many once
    inflated; ImageReadError naming `path` otherwise."""
    if data is None:
        return
    if not data.is_file():
        raise ImageReadError(f"{path}: its data file {data} does not exist; copy it beside the header")
    if compressed:
        present = sum(len(chunk) for chunk in gzip_chunks(data, max(offset, 0), wbits=ZLIB_OR_GZIP_WBITS))
        what = "uncompressed stream"
    else:
        present = data.stat().st_size - max(offset, 0)
        what = f"data file {data}" if data != path else "file"
    if present < nbytes:
        raise ImageReadError(
            f"{path}: the {what} ends early: {max(present, 0)} of the {nbytes} bytes its header promises "
            "(truncated copy or interrupted download?); re-copy the file"
        )


def _check_no_geometry(path: Path, suffix: str) -> None:
    """A NumPy file's header, or a picture's format, read without its pixels."""
    try:
        if suffix in NUMPY_SUFFIXES:
            np.load(path, mmap_mode="r", allow_pickle=False)
        else:
            from PIL import Image

            with Image.open(path) as image:
                image.verify()
    except Exception as exc:  # NumPy, zipfile and Pillow raise many types for a damaged file
        raise ImageReadError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from exc
