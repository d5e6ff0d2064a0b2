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

import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.arrayproxy import ArrayProxy

from clara_tlt.errors import ImageReadError
from clara_tlt.io.volume import Volume

READ_CHUNK_BYTES = 1 << 20
NIFTI1_HEADER_BYTES, NIFTI2_HEADER_BYTES = 348, 540  # each followed by 4 extension bytes
HEADER_READ_BYTES = 8192  # of the file: inflates to more than a header on any gzip stream
GZIP_WBITS = 31  # the gzip wrapper: CRC-32 and ISIZE trailers checked by zlib
ZLIB_OR_GZIP_WBITS = 47  # either wrapper, told apart by its header


@dataclass(frozen=True)
class NiftiLayout:
    """Where a NIfTI file keeps its voxels: `offset` bytes into the uncompressed stream, `nbytes` long, stored
    as `dtype` (byte order included) in nibabel's `shape` `(X, Y, Z, ...)`; `scaled` when scl_slope/inter apply;
    `affine` the RAS voxel → mm matrix nibabel gives (sform, else qform)."""

    offset: int
    nbytes: int
    dtype: np.dtype
    shape: tuple[int, ...]
    scaled: bool
    affine: np.ndarray

    @property
    def end(self) -> int:
        return self.offset + self.nbytes


def nifti_layout(path: Path) -> NiftiLayout | None:
    """The voxel layout its header declares; None when nibabel cannot parse the header (ITK then reports it).

    The header is parsed from the first bytes of the stream (a tenth of `nib.load`'s time, which matters for a
    dry run over thousands of files); files with header extensions take `nib.load`.
    """
    try:
        header = _single_file_header(path)
        if header is None:
            return _loaded_layout(nib.load(str(path)))
        dtype = np.dtype(header.get_data_dtype())
        shape = tuple(int(n) for n in header.get_data_shape())
        slope, inter = header.get_slope_inter()
        scaled = not (slope in (None, 1) and inter in (None, 0))
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        affine = np.asarray(header.get_best_affine())
        return NiftiLayout(int(header.get_data_offset()), nbytes, dtype, shape, scaled, affine)
    except Exception:  # any header nibabel cannot parse: ITK's reader reports it in its own words
        return None


def _single_file_header(path: Path) -> nib.Nifti1Header | None:
    """The NIfTI-1 or -2 header of a single-file image without extensions (checks off: ITK reports a bad one);
    None for any other file, which `nib.load` then reads."""
    with path.open("rb") as handle:
        head = handle.read(HEADER_READ_BYTES)
    if path.name.lower().endswith(".gz"):
        head = zlib.decompressobj(GZIP_WBITS).decompress(head, NIFTI2_HEADER_BYTES + 4)
    if len(head) < NIFTI1_HEADER_BYTES + 4:
        return None
    size = int.from_bytes(head[:4], "little")
    size = size if size in (NIFTI1_HEADER_BYTES, NIFTI2_HEADER_BYTES) else int.from_bytes(head[:4], "big")
    kind = {NIFTI1_HEADER_BYTES: nib.Nifti1Header, NIFTI2_HEADER_BYTES: nib.Nifti2Header}.get(size)
    if kind is None or len(head) < size + 4 or head[size] != 0:  # head[size]: the extension flag
        return None
    header = kind.from_fileobj(io.BytesIO(head[: size + 4]), check=False)
    return header if bytes(header["magic"]).rstrip(b"\x00") in (b"n+1", b"n+2") else None


def _loaded_layout(image: object) -> NiftiLayout | None:
    if not isinstance(image, nib.Nifti1Image):  # NIfTI-2 images derive from NIfTI-1 images
        return None
    proxy = image.dataobj  # an ArrayProxy: the header's facts, no voxels read
    if not isinstance(proxy, ArrayProxy):
        return None
    dtype = np.dtype(proxy.dtype)
    shape = tuple(int(n) for n in proxy.shape)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    scaled = not (proxy.slope == 1 and proxy.inter == 0)
    return NiftiLayout(int(proxy.offset), nbytes, dtype, shape, scaled, np.asarray(image.affine))


def stream_chunks(path: Path) -> Iterator[bytes]:
    """The uncompressed bytes of a `.nii` or (checked, see gzip_chunks) `.nii.gz`, chunk by chunk."""
    return gzip_chunks(path) if path.name.lower().endswith(".gz") else _file_chunks(path)


def ends_early(path: Path, present: int, expected: int) -> ImageReadError:
    what = "uncompressed stream" if path.name.lower().endswith(".gz") else "file"
    return ImageReadError(
        f"{path}: the {what} ends early: {present} of the {expected} bytes its header promises "
        "(truncated copy or interrupted download?); re-copy the file. Nothing was filled in"
    )


def _file_chunks(path: Path, offset: int = 0) -> Iterator[bytes]:
    with path.open("rb") as handle:
        handle.seek(offset)
        while data := handle.read(READ_CHUNK_BYTES):
            yield data


def gzip_chunks(path: Path, offset: int = 0, *, wbits: int = GZIP_WBITS) -> Iterator[bytes]:
    """Uncompressed chunks of a gzip file of one or more members, every CRC and length trailer checked.

    The stream starts `offset` bytes into the file (a MetaImage or NRRD header comes first); `wbits`
    ZLIB_OR_GZIP_WBITS reads zlib streams too (MetaImage's), their Adler-32 trailer checked. Raises
    ImageReadError when the stream ends inside a member or a trailer does not match. Zero bytes after the last
    member are allowed (some tools pad), as Python's gzip module allows them.
    """
    decompressor = zlib.decompressobj(wbits)
    member_open = False
    try:
        for data in _file_chunks(path, offset):
            while data:
                if not member_open:
                    data = data.lstrip(b"\x00")
                    if not data:
                        break
                    member_open = True
                yield decompressor.decompress(data)
                data = b""
                if decompressor.eof:
                    data, member_open = decompressor.unused_data, False
                    decompressor = zlib.decompressobj(wbits)
    except zlib.error as exc:
        raise ImageReadError(
            f"{path}: the compressed data is damaged ({exc}); re-copy or re-export the file"
        ) from exc
    if member_open:
        raise ImageReadError(
            f"{path}: the compressed stream ends early (truncated copy or interrupted download?); "
            "re-copy the file. Nothing was filled in"
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
