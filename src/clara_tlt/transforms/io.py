"""Loading and writing fields: NIfTI, MetaImage, NRRD, PNG/JPEG and NumPy files, with the affine kept.

Arrays are indexed like MONAI's readers (x, y[, z]: NIfTI order; MetaImage/NRRD transposed from SimpleITK's
z-first order; PNG transposed from rows-first), and affines are RAS (MetaImage/NRRD converted from LPS).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor

from clara_tlt.atomic import atomic_path
from clara_tlt.components import register
from clara_tlt.transforms.base import (
    CHANNEL_DIM,
    NO_CHANNEL,
    ClaraTransform,
    as_meta,
    get_field,
    resolve_fields,
    spatial_shape,
)

NIFTI_SUFFIXES = (".nii", ".nii.gz")
ITK_SUFFIXES = (".mha", ".mhd", ".nrrd", ".nhdr")
PIL_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
NUMPY_SUFFIXES = (".npy", ".npz")


def read_image(path: str | Path, *, as_closest_canonical: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """`(array, affine)` of one image file, the backend chosen by suffix; the affine is RAS, `(N+1, N+1)`."""
    name = str(path).lower()
    if not Path(path).is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    if name.endswith(NIFTI_SUFFIXES):
        return _read_nifti(path, as_closest_canonical)
    if name.endswith(ITK_SUFFIXES):
        return _read_sitk(path)
    if name.endswith(PIL_SUFFIXES):
        return _read_pil(path)
    if name.endswith(NUMPY_SUFFIXES):
        array = np.load(path)
        if not isinstance(array, np.ndarray):  # .npz: the first array
            array = array[next(iter(array.files))]
        spatial = min(array.ndim, 3)
        return array, np.eye(spatial + 1)
    suffixes = ", ".join(NIFTI_SUFFIXES + ITK_SUFFIXES + PIL_SUFFIXES + NUMPY_SUFFIXES)
    raise ValueError(f"cannot read '{path}': unknown image suffix; readable suffixes: {suffixes}")


def _read_nifti(path: str | Path, as_closest_canonical: bool) -> tuple[np.ndarray, np.ndarray]:
    import nibabel as nib

    image = nib.load(str(path))
    if as_closest_canonical:
        image = nib.as_closest_canonical(image)
    array = np.asanyarray(image.dataobj)  # type: ignore[attr-defined]
    affine = np.asarray(image.affine, dtype=np.float64)  # type: ignore[attr-defined]
    if array.ndim == 2:  # a 2D NIfTI keeps a 2D affine, like MONAI's reader
        affine = affine[np.ix_([0, 1, 3], [0, 1, 3])]
    return array, affine


def _read_sitk(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    import SimpleITK as sitk

    image = sitk.ReadImage(str(path))
    array = sitk.GetArrayFromImage(image)
    dims = image.GetDimension()
    components = image.GetNumberOfComponentsPerPixel()
    spatial_axes = list(range(dims))[::-1]
    array = array.transpose([*spatial_axes, dims] if components > 1 else spatial_axes)
    direction = np.asarray(image.GetDirection(), dtype=np.float64).reshape(dims, dims)
    affine = np.eye(dims + 1)
    affine[:dims, :dims] = direction * np.asarray(image.GetSpacing())
    affine[:dims, dims] = image.GetOrigin()
    lps_to_ras = np.diag([-1.0, -1.0] + [1.0] * (dims - 1))
    return np.ascontiguousarray(array), lps_to_ras @ affine


def _read_pil(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image

    with Image.open(path) as image:
        array = np.asarray(image)
    array = np.swapaxes(array, 0, 1)  # (rows, cols[, C]) → (x, y[, C]) as MONAI's PILReader
    return np.ascontiguousarray(array), np.eye(3)


def load_field(value: Any, *, as_closest_canonical: bool = False) -> MetaTensor:
    """A path or a list of paths (channels, stacked last) → MetaTensor; other values (labels) → a tensor."""
    paths = [value] if isinstance(value, (str, Path)) else value
    if not isinstance(paths, list) or not paths or not all(isinstance(p, (str, Path)) for p in paths):
        return MetaTensor(torch.as_tensor(np.asarray(value, dtype=np.float32)), meta={CHANNEL_DIM: 0})
    arrays, affines = zip(
        *(read_image(p, as_closest_canonical=as_closest_canonical) for p in paths), strict=True
    )
    first, affine = arrays[0], affines[0]
    spatial_dims = affine.shape[0] - 1
    multi_file = len(paths) > 1
    if multi_file:
        if any(a.shape != first.shape for a in arrays):
            shapes = ", ".join(f"{p}: {a.shape}" for p, a in zip(paths, arrays, strict=True))
            raise ValueError(f"channel files differ in shape: {shapes}")
        array = np.stack(arrays, axis=-1)
    else:
        array = first
    if array.dtype == np.float64:
        array = array.astype(np.float32)
    elif array.dtype == np.uint16 or array.dtype == np.uint32:  # torch lacks arithmetic on these
        array = array.astype(np.int32 if array.dtype == np.uint16 else np.int64)
    layout = -1 if (multi_file or array.ndim > spatial_dims) else None
    meta = {
        "filename_or_obj": str(paths[0]),
        "original_affine": affine.copy(),
        "spatial_shape": np.asarray(first.shape[:spatial_dims]),
        CHANNEL_DIM: NO_CHANNEL if layout is None else layout,
    }
    return MetaTensor(
        torch.from_numpy(np.ascontiguousarray(array)), affine=torch.as_tensor(affine), meta=meta
    )


def _flag(value: bool | str) -> bool:
    return value.strip().lower() in ("1", "true", "yes") if isinstance(value, str) else bool(value)


@register(
    "transform", "LoadNifti", aliases=("LoadNifty", "LoadPng", "LoadNumpyFromFilename", "LoadImageFile")
)
class LoadImageFields(ClaraTransform):
    """Replace each path field by its image: NIfTI, MetaImage, NRRD, PNG/JPEG or `.npy`, chosen by suffix.

    A field holding a list of paths becomes one multi-channel image (channels last until
    `ConvertToChannelsFirst`). Non-path values (a classification label list) become float tensors.
    Output: `MetaTensor` of shape `(*spatial)` or `(*spatial, C)`, affine RAS; no channel axis is added.
    MONAI: `LoadImaged(keys, image_only=True)`. Example: `LoadNifti(fields=["image", "label"])(sample)`.
    """

    def __init__(
        self,
        fields: str | list[str] | None = None,
        as_closest_canonical: bool | str = False,
        field: str | list[str] | None = None,
        applied_key: str | list[str] | None = None,
        applied_keys: str | list[str] | None = None,
    ) -> None:
        self.fields = resolve_fields(fields, field, applied_key, applied_keys)
        self.as_closest_canonical = _flag(as_closest_canonical)

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        out = dict(data)
        for key in self.fields:
            if key not in data:
                raise KeyError(f"LoadNifti: sample has no field '{key}'; fields present: {', '.join(data)}")
            out[key] = load_field(data[key], as_closest_canonical=self.as_closest_canonical)
        return out


class _FieldProperty(ClaraTransform):
    """Reads one field (a loaded image, or the file it names) to add a property of it under `<key>_<what>`."""

    def __init__(
        self, applied_key: str | None = None, field: str | None = None, fields: str | None = None
    ) -> None:
        self.key = resolve_fields(fields, field, applied_key)[0]

    def _image(self, data: dict[str, Any]) -> MetaTensor:
        value = data[self.key]
        return load_field(value) if isinstance(value, (str, Path, list)) else as_meta(value)


@register("transform", "LoadResolutionFromNifty")
class LoadResolution(_FieldProperty):
    """Add `<key>_resolution`: the voxel spacing of field `key` (from its affine, or the file's header)."""

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        spacing = torch.linalg.norm(self._image(data).affine[:-1, :-1].double(), dim=0)
        return {**data, f"{self.key}_resolution": spacing.tolist()}


@register("transform", "Load3DShapeFromNumpy")
class LoadSpatialShape(_FieldProperty):
    """Add `<key>_shape`: the spatial shape of field `key` (a loaded image, or the file it names)."""

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        return {**data, f"{self.key}_shape": list(spatial_shape(self._image(data)))}


@register("transform", "WriteNiftyResults")
class WriteNiftyResults(ClaraTransform):
    """Write field `applied_key` to `<write_path>/<name>/<name>_<applied_key>.nii.gz` (atomically).

    `<name>` is the stem of the file the field (or `image`) was loaded from. A single channel is dropped.
    MONAI: `SaveImaged(keys, output_dir, output_postfix)`.
    """

    def __init__(
        self,
        applied_key: str | None = None,
        write_path: str = ".",
        dtype: str = "float32",
        field: str | None = None,
    ) -> None:
        self.key = resolve_fields(None, field, applied_key)[0]
        self.write_path = Path(write_path)
        self.dtype = np.dtype(dtype)

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        import nibabel as nib

        image = get_field(data, self.key, self)
        source = image.meta.get("filename_or_obj") or getattr(data.get("image"), "meta", {}).get(
            "filename_or_obj"
        )
        name = _stem(str(source)) if source else "sample"
        array = image.detach().cpu().numpy()
        if array.ndim > len(spatial_shape(image)) and array.shape[0] == 1:
            array = array[0]
        affine = image.affine.detach().cpu().numpy()
        target = self.write_path / name / f"{name}_{self.key}.nii.gz"
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as temporary:
            nib.save(nib.Nifti1Image(array.astype(self.dtype), affine), str(temporary))
        return {**data, f"{self.key}_path": str(target)}


def _stem(path: str) -> str:
    name = Path(path).name
    for suffix in (*NIFTI_SUFFIXES, *ITK_SUFFIXES, *PIL_SUFFIXES, *NUMPY_SUFFIXES):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(path).stem
