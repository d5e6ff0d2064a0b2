"""`read_image` / `write_image`: one public front, private backends chosen by suffix; a folder is a DICOM series.

NIfTI (`.nii`, `.nii.gz`), MetaImage (`.mha`, `.mhd` + `.raw`/`.zraw`), NRRD (`.nrrd`) go through SimpleITK,
which writes the qform/sform (NIfTI) and the direction matrix (MetaImage, NRRD) from the volume's geometry.
Every write is atomic: a crash leaves the old file or the new one, never half of one.
"""

from __future__ import annotations

import difflib
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import SimpleITK as sitk

from clara_tlt.atomic import atomic_path
from clara_tlt.errors import ImageReadError
from clara_tlt.io.integrity import (
    check_finite,
    nifti_nonfinite_mask,
    refuse_nonfinite,
    replace_voxels,
    scan_nifti,
)
from clara_tlt.io.nifti import read_plain_nifti
from clara_tlt.io.volume import Volume
from clara_tlt.written import DEFLATE, check_metaimage, check_nifti, check_size

ITK_SUFFIXES = (".nii.gz", ".nii", ".mha", ".mhd", ".nrrd")
NIFTI_SUFFIXES = (".nii.gz", ".nii")
DICOM_SUFFIX = ".dcm"
# No geometry, so no Volume: `clara_tlt.io.arrays.read_array` reads these (identity affine).
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
NUMPY_SUFFIXES = (".npy", ".npz")
NO_GEOMETRY_SUFFIXES = (*PICTURE_SUFFIXES, *NUMPY_SUFFIXES)
VOLUME_SUFFIXES = (*ITK_SUFFIXES, DICOM_SUFFIX)
# Level 1 (nibabel's default too): zlib's several times faster than 6, files about 10 % larger on CT; ISA-L's
# level 1 (`DEFLATE`) faster again and about 3 % smaller than zlib's.
COMPRESSION_LEVEL = 1
GZIP_CHUNK_BYTES = 4 << 20  # smallest piece compressed on its own thread


def suffix_of(path: str | Path, suffixes: tuple[str, ...] = VOLUME_SUFFIXES) -> str:
    """The one of `suffixes` `path` ends with (`.nii.gz` counts as one), lower-case; '' when none."""
    name = Path(path).name.lower()
    return next((suffix for suffix in suffixes if name.endswith(suffix)), "")


def _unknown_suffix(path: Path, *, reading: bool) -> ValueError:
    """Unknown format: the closest known suffix and the accepted ones (pictures and NumPy files on reading)."""
    known: tuple[str, ...] = ITK_SUFFIXES
    accepted = ", ".join(ITK_SUFFIXES)
    if reading:
        known = (*VOLUME_SUFFIXES, *NO_GEOMETRY_SUFFIXES)
        accepted = (
            f"{', '.join(VOLUME_SUFFIXES)}, or a DICOM folder; without geometry, through read_array "
            f"(LoadPng, LoadNumpyFromFilename): {', '.join(NO_GEOMETRY_SUFFIXES)}"
        )
    guess = difflib.get_close_matches(path.suffix.lower(), known, n=1)
    hint = f"; did you mean '{guess[0]}'?" if guess else "."
    return ValueError(f"{path}: unknown image format{hint} Accepted: {accepted}")


def read_image(
    path: str | Path,
    *,
    label: bool = False,
    interpolate_missing_slices: bool = False,
    replace_nonfinite: float | None = None,
) -> Volume:
    """Read a volume: NIfTI, MetaImage, NRRD file, a single DICOM file, or a folder holding one DICOM series.

    Nothing is made up: a file that ends early, a DICOM series with a slice that cannot be read, or a
    series with a gap of whole missing slices raises ImageReadError naming the file. `label` matters only for
    DICOM stacks that need regularising (nearest neighbour instead of linear); `interpolate_missing_slices`
    fills gaps of missing slices by interpolation instead of refusing them; NaN and infinite voxels are
    refused unless `replace_nonfinite` gives the value that replaces them. An image of several channels (a
    4-D NIfTI) is refused too: `read_channels` reads it.

    >>> volume = read_image("ct.nii.gz")  # doctest: +SKIP
    >>> volume.array.shape, volume.spacing  # doctest: +SKIP
    ((48, 512, 512), (0.7, 0.7, 2.5))
    """
    volumes = read_channels(
        path,
        label=label,
        interpolate_missing_slices=interpolate_missing_slices,
        replace_nonfinite=replace_nonfinite,
    )
    if len(volumes) != 1:
        raise ImageReadError(
            f"{path}: {len(volumes)} channels of {' × '.join(map(str, volumes[0].size))} voxels (a 4-D image or "
            "vector voxels) where one 3-D volume is expected (dataconvert converts one volume per file); split "
            "it into one file per channel, or read it with read_channels (LoadNifti does)"
        )
    return volumes[0]


def read_channels(
    path: str | Path,
    *,
    label: bool = False,
    interpolate_missing_slices: bool = False,
    replace_nonfinite: float | None = None,
) -> list[Volume]:
    """Read an image of one or more channels: one `Volume` per channel, all on one grid, as `read_image` reads
    each (same arguments, same refusals). A 4-D NIfTI (MSD BraTS: `(x, y, z, C)`) and images of vector voxels
    (RGB) give one volume per channel; every other image gives one.

    >>> [v.shape for v in read_channels("BRATS_001.nii.gz")]  # doctest: +SKIP
    [(155, 240, 240), (155, 240, 240), (155, 240, 240), (155, 240, 240)]
    """
    path = Path(path)
    dicom = {"label": label, "interpolate_missing_slices": interpolate_missing_slices}
    if path.is_dir():
        from clara_tlt.io.dicom_series import read_dicom_folder

        volumes = [read_dicom_folder(path, **dicom)]
    elif not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    elif suffix_of(path) in ITK_SUFFIXES:
        volumes = _read_itk(path, replace_nonfinite=replace_nonfinite)
    elif suffix_of(path) == DICOM_SUFFIX or _looks_like_dicom(path):
        volumes = [_read_dicom_file(path, **dicom)]
    elif suffix_of(path, NO_GEOMETRY_SUFFIXES):
        raise ValueError(
            f"{path}: a picture or NumPy file has no geometry to make a volume; read it with read_array"
        )
    else:
        raise _unknown_suffix(path, reading=True)
    return [check_finite(volume, path, replace=replace_nonfinite) for volume in volumes]


def _looks_like_dicom(path: Path) -> bool:
    from clara_tlt.io.dicom_files import looks_like_dicom

    return looks_like_dicom(path)


def _read_itk(path: Path, *, replace_nonfinite: float | None) -> list[Volume]:
    """ITK reads the file, one volume per channel. NIfTI, whose ITK reader zero-fills short data and zeroes NaN,
    is read by `read_plain_nifti` when it can be; otherwise it is scanned (`scan_nifti`) while ITK reads it
    (zlib and ITK release the GIL)."""
    nifti = suffix_of(path) in NIFTI_SUFFIXES
    plain = read_plain_nifti(path) if nifti else None
    if plain is not None:
        return plain
    with ThreadPoolExecutor(1) as pool:
        scan = pool.submit(scan_nifti, path) if nifti else None
        try:
            image = sitk.ReadImage(str(path))
        except RuntimeError as exc:
            if scan is not None:
                scan.result()  # the more telling message when the file ends early
            raise ImageReadError(f"{path}: cannot read: {itk_reason(exc)}") from exc
        nonfinite = scan.result() if scan is not None else 0
    try:
        volumes = [Volume.from_sitk(channel) for channel in _channels(image)]
    except ValueError as exc:
        raise ImageReadError(f"{path}: {exc}") from exc
    if not nonfinite:
        return volumes
    if replace_nonfinite is None:
        raise refuse_nonfinite(nonfinite, path)
    masks = nifti_nonfinite_mask(path, (len(volumes), *volumes[0].shape))
    return [
        replace_voxels(v, m, replace_nonfinite) if m.any() else v for v, m in zip(volumes, masks, strict=True)
    ]


def _channels(image: sitk.Image) -> list[sitk.Image]:
    """A 3-D image per channel: a 2-D image as one slice, a 4-D one split along its 4th axis, vector voxels
    (RGB) split by component."""
    if image.GetDimension() == 2:
        image = sitk.JoinSeries(image)
    if image.GetNumberOfComponentsPerPixel() > 1:
        count = image.GetNumberOfComponentsPerPixel()
        return [sitk.VectorIndexSelectionCast(image, index) for index in range(count)]
    if image.GetDimension() == 4:
        size = list(image.GetSize())
        return [sitk.Extract(image, [*size[:3], 0], [0, 0, 0, index]) for index in range(size[3])]
    return [image]


def itk_reason(exc: RuntimeError) -> str:
    """ITK's message without its source location, object address, or a stale errno (`Reason: No such file`)."""
    lines = [line.strip() for line in str(exc).strip().splitlines()]
    kept = [
        re.sub(r"^ITK ERROR: \w+\(0x[0-9a-f]+\): ", "", line)
        for line in lines
        if line
        and not line.startswith(("Exception thrown in SimpleITK", "Reason: No such file"))
        and not re.match(r"^/\S+:\d+:$", line)
    ]
    return "; ".join(kept[-3:])


def _read_dicom_file(path: Path, *, label: bool, interpolate_missing_slices: bool) -> Volume:
    from clara_tlt.io.dicom_series import file_series, read_series

    series = file_series(path)
    return read_series(series, label=label, interpolate_missing_slices=interpolate_missing_slices)


def write_image(volume: Volume, path: str | Path, *, compress: bool = True) -> Path:
    """Write `volume` atomically in the format of `path`'s suffix; returns the path.

    `.mhd` writes a header and a `.raw` (or compressed `.zraw`) beside it, both atomically.
    """
    return write_sitk_image(volume.to_sitk(), path, compress=compress)


def write_sitk_image(image: sitk.Image, path: str | Path, *, compress: bool = True) -> Path:
    """`write_image` for a SimpleITK image as it is (a vector image too: NIfTI intent "vector", MetaImage
    components), atomically in the format of `path`'s suffix."""
    path = Path(path)
    suffix = suffix_of(path)
    if suffix not in ITK_SUFFIXES:
        raise _unknown_suffix(path, reading=False)
    if suffix == ".mhd":
        return _write_mhd(image, path, compress)
    if suffix == ".nii.gz" and compress:
        return _write_nifti_gz(image, path)
    with atomic_path(path) as tmp:
        sitk.WriteImage(
            image, str(tmp), useCompression=compress and suffix != ".nii", compressionLevel=COMPRESSION_LEVEL
        )
    return path


def _write_nifti_gz(image: sitk.Image, path: Path) -> Path:
    """ITK writes the NIfTI (header from the geometry), we gzip it: at COMPRESSION_LEVEL, on every core.

    ITK's NIfTI writer ignores the compression level and uses one core; ISA-L (or zlib, `DEFLATE`) releases
    the GIL, so chunks compress in threads. The chunks are concatenated gzip members, which RFC 1952 allows
    and every gzip reader (zlib's gzread in ITK/FSL/AFNI, Python's gzip in nibabel) reads as one stream.
    ITK's file is checked before it is read: on a full disk ITK leaves a short (even empty) file and only
    prints "wrote only …". The gzip file is ours, so its size is checked against the bytes we wrote instead
    of inflating it again.
    """
    written = 0  # what `whole` checks on the way out: our own writes are counted, not inflated again

    def whole(tmp: Path) -> None:
        check_size(tmp, written)

    with atomic_path(path, check=whole) as tmp:
        plain = tmp.with_name(tmp.name[: -len(".gz")])
        try:
            sitk.WriteImage(image, str(plain), useCompression=False)
            check_nifti(plain)
            data = plain.read_bytes()
        finally:
            plain.unlink(missing_ok=True)
        threads = max(1, sitk.ProcessObject.GetGlobalDefaultNumberOfThreads())
        chunk = max(GZIP_CHUNK_BYTES, -(-len(data) // threads))
        views = [memoryview(data)[start : start + chunk] for start in range(0, len(data), chunk)]
        with ThreadPoolExecutor(min(threads, len(views))) as pool:
            members = list(pool.map(_gzip_member, views))
        with tmp.open("wb") as handle:
            handle.writelines(members)
        written = sum(len(member) for member in members)
    return path


def _gzip_member(data: memoryview) -> bytes:
    # wbits 31: a gzip header and trailer
    compressor = DEFLATE.compressobj(COMPRESSION_LEVEL, DEFLATE.DEFLATED, 31)
    return compressor.compress(data) + compressor.flush()


def _write_mhd(image: sitk.Image, path: Path, compress: bool) -> Path:
    """MetaImage header + data file: write both under temporary names, check them, then rename data first,
    header last."""
    with atomic_path(path) as tmp_header:
        data_suffix = ".zraw" if compress else ".raw"
        tmp_data = tmp_header.with_suffix(data_suffix)
        final_data = path.with_suffix(data_suffix)
        try:
            sitk.WriteImage(
                image, str(tmp_header), useCompression=compress, compressionLevel=COMPRESSION_LEVEL
            )
            check_metaimage(tmp_header)
            text = tmp_header.read_text().replace(
                f"ElementDataFile = {tmp_data.name}", f"ElementDataFile = {final_data.name}"
            )
            tmp_header.write_text(text)
        except BaseException:
            tmp_data.unlink(missing_ok=True)
            raise
        os.replace(tmp_data, final_data)
    return path
