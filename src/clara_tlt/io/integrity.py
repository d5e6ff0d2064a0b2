"""Refuse damaged volumes instead of making data up: files that end early, and NaN or infinite voxels.

ITK reads a NIfTI file whose data ends early (a cut copy, an interrupted download) without complaint and fills
the missing voxels with zeros, and it turns NaN and infinite NIfTI voxels into zeros too; MetaImage and NRRD
readers fail on short data and keep NaN. So NIfTI files are scanned here as ITK reads them: the bytes present
must cover what the header promises, a `.nii.gz` must be whole gzip members whose CRC and length trailers
match (what `gzip -t` checks), and float voxels are counted for NaN/infinity in the raw stream. Non-finite
voxels are refused unless the caller names the value that replaces them.

>>> check_finite(Volume(np.array([[[0.0, np.nan]]])), "ct.nii.gz")  # doctest: +SKIP
ImageReadError: ct.nii.gz: 1 voxel(s) are NaN or infinite ...
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from clara_tlt.errors import ImageReadError
from clara_tlt.io.volume import Volume
from clara_tlt.written import NiftiLayout, nifti_layout, stream_chunks


def ends_early(path: Path, present: int, expected: int) -> ImageReadError:
    what = "uncompressed stream" if path.name.lower().endswith(".gz") else "file"
    return ImageReadError(
        f"{path}: the {what} ends early: {present} of the {expected} bytes its header promises "
        "(truncated copy or interrupted download?); re-copy the file. Nothing was filled in"
    )


class _NonFiniteCounter:
    """Counts NaN/±inf among the float voxels of a stream fed chunk by chunk."""

    def __init__(self, layout: NiftiLayout) -> None:
        self.dtype = layout.dtype
        self.skip, self.left = layout.offset, layout.nbytes
        self.carry = b""
        self.count = 0

    def feed(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        skipped = min(self.skip, len(view))
        view, self.skip = view[skipped:], self.skip - skipped
        view = view[: self.left]
        self.left -= len(view)
        data = self.carry + view.tobytes() if self.carry else view
        usable = len(data) - len(data) % self.dtype.itemsize
        values = np.frombuffer(data[:usable], self.dtype)
        self.count += values.size - int(np.count_nonzero(np.isfinite(values)))
        self.carry = bytes(data[usable:])


def scan_nifti(path: Path, layout: NiftiLayout | None = None) -> int:
    """Check that a `.nii` / `.nii.gz` holds every voxel byte its header promises (ImageReadError if not);
    return how many float voxels are NaN or infinite (ITK's reader turns them into zeros, so they are
    counted here, in the stream itself). `layout`: its `nifti_layout`, when the caller has read it."""
    layout = layout or nifti_layout(path)
    floats = layout is not None and layout.dtype.kind == "f"
    if not path.name.lower().endswith(".gz") and not floats:
        present = path.stat().st_size
        counter = None
    else:
        counter = _NonFiniteCounter(layout) if layout is not None and floats else None
        present = 0
        for chunk in stream_chunks(path):
            present += len(chunk)
            if counter is not None:
                counter.feed(chunk)
    if layout is not None and present < layout.end:
        raise ends_early(path, present, layout.end)
    return counter.count if counter is not None else 0


def nifti_nonfinite_mask(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """Where a NIfTI file's voxels are NaN or infinite, as a boolean array of `shape` (ITK's (Z, Y, X))."""
    image = nib.load(str(path))
    assert isinstance(image, nib.Nifti1Image)
    data = np.asanyarray(image.dataobj)
    return np.asarray(~np.isfinite(data)).T.reshape(shape)


def refuse_nonfinite(count: int, source: str | Path) -> ImageReadError:
    return ImageReadError(
        f"{source}: {count} voxel(s) are NaN or infinite; fix the file, or convert it with "
        "--replace_nonfinite VALUE (dataconvert) / replace_nonfinite=VALUE (read_image) to set them to VALUE"
    )


def replace_voxels(volume: Volume, mask: np.ndarray, value: float) -> Volume:
    """A copy of `volume` whose voxels under `mask` are `value`, with a note saying how many."""
    fixed = np.where(mask, np.asarray(value, dtype=volume.array.dtype), volume.array)
    note = f"{int(np.count_nonzero(mask))} NaN/infinite voxel(s) replaced by {value:g} (replace_nonfinite)"
    return Volume(
        fixed,
        volume.spacing,
        volume.origin,
        volume.direction,
        meta=dict(volume.meta),
        notes=[*volume.notes, note],
    )


def check_finite(volume: Volume, source: str | Path, *, replace: float | None = None) -> Volume:
    """`volume` unchanged when every voxel is finite; otherwise ImageReadError, or with `replace` a copy in
    which NaN, +inf and -inf voxels are `replace` (and a note saying how many)."""
    array = volume.array
    if array.dtype.kind != "f" or not array.size or (np.isfinite(array.min()) and np.isfinite(array.max())):
        return volume
    bad = ~np.isfinite(array)
    if replace is None:
        raise refuse_nonfinite(int(np.count_nonzero(bad)), source)
    return replace_voxels(volume, bad, replace)
