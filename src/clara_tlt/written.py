"""Is a file that a writer just left whole? Checked before `atomic_path` renames it into place.

Some writers stop short without raising: ITK's NIfTI writer prints "wrote only N of M bytes" on a full disk and
returns, C++ writers lose the OS's reason. So what they left is checked cheaply against what its own header
promises: a NIfTI header that parses and the voxel bytes it declares (the gzip stream complete, every CRC and
length trailer matching), a MetaImage or NRRD header and its data size, a zip archive (`torch.save`, TorchScript) whose
central directory is there. Files of other kinds are not checked here; their writers are Python code whose
write errors raise.

>>> check_written(Path("out/.ct.x1y2.incomplete.nii.gz"), Path("out/ct.nii.gz"))  # doctest: +SKIP
IncompleteWrite: 1024 of the 65888 bytes its header promises
"""

from __future__ import annotations

import math
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

NIFTI_SUFFIXES = (".nii", ".nii.gz")
METAIMAGE_SUFFIXES = (".mha", ".mhd")
NRRD_SUFFIX = ".nrrd"
ZIP_SUFFIXES = (".pt", ".pth", ".ts")
HEADER_BYTES = (
    1 << 16
)  # ITK's MetaImage and NRRD headers are under 1 kB; the data of a `.mha`/`.nrrd` follows
READ_CHUNK_BYTES = 1 << 20
# MetaIO's element types and their sizes in bytes (metaTypes.h)
METAIMAGE_BYTES = {
    "MET_CHAR": 1,
    "MET_UCHAR": 1,
    "MET_SHORT": 2,
    "MET_USHORT": 2,
    "MET_INT": 4,
    "MET_UINT": 4,
    "MET_LONG": 4,
    "MET_ULONG": 4,
    "MET_LONG_LONG": 8,
    "MET_ULONG_LONG": 8,
    "MET_FLOAT": 4,
    "MET_DOUBLE": 8,
}
# the NRRD type names ITK writes and their sizes in bytes
NRRD_BYTES = {
    "signed char": 1,
    "unsigned char": 1,
    "short": 2,
    "unsigned short": 2,
    "int": 4,
    "unsigned int": 4,
    "long long int": 8,
    "unsigned long long int": 8,
    "float": 4,
    "double": 8,
}


class IncompleteWrite(Exception):
    """What a writer left is not whole; the message says what is missing (`atomic_path` names the file)."""


def check_written(path: Path, target: Path) -> None:
    """IncompleteWrite unless `path`, written for `target`, holds what its format promises (chosen by the
    name of `target`, since temporary names end in `.incomplete.<suffix>`)."""
    name = target.name.lower()
    if name.endswith(NIFTI_SUFFIXES):
        check_nifti(path)
    elif name.endswith(METAIMAGE_SUFFIXES):
        check_metaimage(path)
    elif name.endswith(NRRD_SUFFIX):
        check_nrrd(path)
    elif name.endswith(ZIP_SUFFIXES):
        check_zip(path)


def check_size(path: Path, size: int) -> None:
    """IncompleteWrite unless `path` holds `size` bytes: the check of a writer that knows what it wrote."""
    if (present := path.stat().st_size) != size:
        raise IncompleteWrite(f"{present} of the {size} bytes written")


def check_nifti(path: Path) -> None:
    """The header parses and the voxel bytes it declares are all there (a `.gz` stream complete and intact)."""
    from clara_tlt.errors import ImageReadError
    from clara_tlt.io.integrity import nifti_layout, stream_chunks

    layout = nifti_layout(path)
    if layout is None:
        raise IncompleteWrite(f"no readable NIfTI header in the {path.stat().st_size} bytes written")
    try:
        if path.name.lower().endswith(".gz"):
            present = sum(len(chunk) for chunk in stream_chunks(path))
        else:
            present = path.stat().st_size
    except ImageReadError as exc:  # a gzip stream that ends early or whose trailer does not match
        raise IncompleteWrite("the compressed stream is incomplete") from exc
    if present < layout.end:
        raise IncompleteWrite(f"{present} of the {layout.end} bytes its header promises")


def check_metaimage(path: Path) -> None:
    """The header's keys are there and the data (inline after the header, or the file it names) is as long as
    the header says: `CompressedDataSize` bytes, or the voxels times their element size."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(HEADER_BYTES)
    marker = head.find(b"ElementDataFile")
    end = head.find(b"\n", marker) if marker >= 0 else -1
    if end < 0:
        raise IncompleteWrite(f"no complete MetaImage header in the {size} bytes written")
    header = dict(
        (key.strip(), value.strip())
        for key, _, value in (line.partition("=") for line in head[:end].decode("latin-1").splitlines())
    )
    expected = _metaimage_bytes(header)
    source = header["ElementDataFile"]
    if source == "LOCAL":
        present = size - end - 1
    elif (path.parent / source).is_file():
        present = (path.parent / source).stat().st_size
    else:
        raise IncompleteWrite(f"its data file {source} is missing")
    if expected is not None and present < expected:
        raise IncompleteWrite(f"{present} of the {expected} data bytes its header promises")


def _metaimage_bytes(header: dict[str, str]) -> int | None:
    """How many data bytes a MetaImage header promises; None when it does not say (an unknown element type)."""
    if header.get("CompressedData", "False") == "True":
        size = header.get("CompressedDataSize")
        return int(size) if size else None
    element = METAIMAGE_BYTES.get(header.get("ElementType", ""))
    if element is None:
        return None
    voxels = math.prod(int(n) for n in header.get("DimSize", "0").split())
    return voxels * int(header.get("ElementNumberOfChannels", "1")) * element


def check_nrrd(path: Path) -> None:
    """The header (up to its blank line) is there and the data after it is as long as `sizes` × `type` say,
    raw or (`encoding: gzip`) once inflated, the gzip stream complete."""
    with path.open("rb") as handle:
        head = handle.read(HEADER_BYTES)
        end = head.find(b"\n\n")
        if end < 0:
            raise IncompleteWrite(f"no complete NRRD header in the {path.stat().st_size} bytes written")
        header = dict(
            (key.strip(), value.strip())
            for key, _, value in (line.partition(":") for line in head[:end].decode("latin-1").splitlines())
        )
        handle.seek(end + 2)
        present = (
            _inflated_size(handle) if header.get("encoding") == "gzip" else path.stat().st_size - end - 2
        )
    element = NRRD_BYTES.get(header.get("type", ""))
    expected = math.prod(int(n) for n in header.get("sizes", "0").split()) * element if element else None
    if expected is not None and present < expected:
        raise IncompleteWrite(f"{present} of the {expected} data bytes its header promises")


def _inflated_size(handle: BinaryIO) -> int:
    """How many bytes the gzip stream from `handle`'s position inflates to; IncompleteWrite if it ends early."""
    inflater = zlib.decompressobj(31)
    size = 0
    try:
        while not inflater.eof and (data := handle.read(READ_CHUNK_BYTES)):
            size += len(inflater.decompress(data))
    except zlib.error as exc:
        raise IncompleteWrite(f"the compressed data is damaged ({exc})") from exc
    if not inflater.eof:
        raise IncompleteWrite("the compressed stream ends early")
    return size


def check_zip(path: Path) -> None:
    """A zip archive (PyTorch's checkpoint and TorchScript format) whose central directory, written last, is
    there and whose members all lie inside the file; files that are not zip archives are left alone."""
    with path.open("rb") as handle:
        if handle.read(2) != b"PK":
            return
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise IncompleteWrite(f"the zip archive ends early ({exc})") from exc
    size = path.stat().st_size
    if any(info.header_offset + info.compress_size > size for info in members):
        raise IncompleteWrite("a member of the zip archive lies past its end")
