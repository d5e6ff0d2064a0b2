"""Images as MONAI and nibabel index them: arrays `(x, y[, z][, C])` with a RAS affine `(N+1, N+1)`.

The one bridge between `Volume` (`(Z, Y, X)`, LPS geometry) and the transforms: `read_array` reads every
format through `read_channels` (NIfTI, 4-D too, MetaImage, NRRD, a DICOM file or series folder) and pictures
(PNG, JPEG, BMP, TIFF, through Pillow) and NumPy files (`.npy`, `.npz`), which carry no geometry (identity
affine); `write_array` writes an array back through `write_image`.

>>> array, affine = read_array("ct.nii.gz")  # doctest: +SKIP
>>> array.shape, affine.shape  # doctest: +SKIP
((512, 512, 48), (4, 4))
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from clara_tlt.errors import ImageReadError
from clara_tlt.io.image import (
    ITK_SUFFIXES,
    NO_GEOMETRY_SUFFIXES,
    NUMPY_SUFFIXES,
    PICTURE_SUFFIXES,
    VOLUME_SUFFIXES,
    read_channels,
    suffix_of,
    write_image,
    write_sitk_image,
)
from clara_tlt.io.volume import Volume

__all__ = ["NUMPY_SUFFIXES", "PICTURE_SUFFIXES", "array_suffix", "read_array", "write_array"]
DECODE_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile)  # Pillow's and NumPy's "cannot decode"


def array_suffix(path: str | Path) -> str:
    """The format suffix of `path` among every readable one (`.nii.gz` counts as one); '' when unknown."""
    return suffix_of(path, (*VOLUME_SUFFIXES, *NO_GEOMETRY_SUFFIXES))


def read_array(path: str | Path, *, label: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """`(array, affine)` of an image file or DICOM folder: axes `(x, y[, z][, C])`, RAS affine `(N+1, N+1)`.

    A 2-D MetaImage, NRRD or NIfTI stays 2-D (`(x, y)`, 3×3 affine), as MONAI's readers keep it; a 4-D NIfTI
    (MSD BraTS) or an RGB image gives its channels last, `(x, y, z, C)`, as MONAI's `LoadImage` does; `label`
    resamples an uneven DICOM stack with nearest neighbour.
    """
    suffix = array_suffix(path)
    if suffix in NO_GEOMETRY_SUFFIXES:
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no such file")
        try:
            return _read_picture(Path(path)) if suffix in PICTURE_SUFFIXES else _read_numpy(Path(path))
        except DECODE_ERRORS as exc:
            raise ImageReadError(f"{path}: cannot read ({exc})") from exc
    volumes = read_channels(path, label=label)
    arrays = [volume.array.transpose(2, 1, 0) for volume in volumes]
    array, affine = arrays[0] if len(arrays) == 1 else np.stack(arrays, axis=-1), volumes[0].affine
    if suffix in ITK_SUFFIXES and _stored_dimension(Path(path)) == 2:  # read_channels made it one slice
        return array[:, :, 0], affine[np.ix_([0, 1, 3], [0, 1, 3])]
    return array, affine


def _stored_dimension(path: Path) -> int:
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    return int(reader.GetDimension())


def _read_picture(path: Path) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image

    with Image.open(path) as image:
        array = np.asarray(image)
    array = np.swapaxes(array, 0, 1)  # (rows, cols[, C]) → (x, y[, C]) as MONAI's PILReader
    return array, np.eye(3)


def _read_numpy(path: Path) -> tuple[np.ndarray, np.ndarray]:
    loaded = np.load(path)
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            if not loaded.files:
                raise ValueError("the .npz file holds no array")
            array = loaded[loaded.files[0]]  # the first array
    else:
        array = loaded
    return array, np.eye(min(array.ndim, 3) + 1)


def write_array(array: np.ndarray, affine: np.ndarray, path: str | Path) -> Path:
    """Write a 3-D array `(x, y, z)`, or channels last `(x, y, z, C)` as a vector image (what MSD BraTS and
    ITK write; `read_array` reads it back as `(x, y, z, C)`), with its RAS affine `(4, 4)`; atomic, format by
    suffix. The inverse of `read_array` for volumes: spacing, origin and direction come from the affine.
    """
    if array.ndim not in (3, 4) or np.shape(affine) != (4, 4):
        raise ValueError(
            f"{path}: writes a 3-D volume (x, y, z) or its channels (x, y, z, C) with a 4×4 affine; got an "
            f"array of shape {array.shape}"
        )
    if array.ndim == 3:
        return write_image(Volume.from_affine(np.ascontiguousarray(array.transpose(2, 1, 0)), affine), path)
    geometry = Volume.from_affine(np.ascontiguousarray(array[..., 0].transpose(2, 1, 0)), affine).to_sitk()
    image = sitk.GetImageFromArray(np.ascontiguousarray(array.transpose(2, 1, 0, 3)), isVector=True)
    image.CopyInformation(geometry)
    return write_sitk_image(image, path)
