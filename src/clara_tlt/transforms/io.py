"""Loading and writing fields through `clara_tlt.io`: NIfTI, MetaImage, NRRD, DICOM series folders, PNG/JPEG and
NumPy files, with the affine kept.

Arrays are indexed like MONAI's readers (x, y[, z]: NIfTI order) and affines are RAS, as `clara_tlt.io.arrays`
hands them over; every format, suffix and LPS↔RAS conversion lives there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor

from clara_tlt.io.arrays import read_array, write_array
from clara_tlt.io.outputs import inside, name_of
from clara_tlt.transforms.base import (
    CHANNEL_DIM,
    NO_CHANNEL,
    ClaraTransform,
    FieldsArg,
    as_fields,
    as_meta,
    get_field,
    one_field,
    register_transform,
    spatial_shape,
    writable_array,
)


def closest_canonical(array: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`array` with its spatial axes flipped and swapped to lie closest to RAS+, and its new affine.

    What `nibabel.as_closest_canonical` does to a NIfTI, for any format. Shapes `(*spatial[, C])`, `(N+1, N+1)`.
    """
    from nibabel.orientations import apply_orientation, inv_ornt_aff, io_orientation

    orientation = io_orientation(affine)
    if np.array_equal(orientation, [[axis, 1] for axis in range(len(orientation))]):
        return array, affine
    return apply_orientation(array, orientation), affine @ inv_ornt_aff(orientation, array.shape)


def load_field(value: Any, *, as_closest_canonical: bool = False) -> MetaTensor:
    """A path or a list of paths (channels, stacked last) → MetaTensor; other values (labels) → a tensor."""
    paths = [value] if isinstance(value, (str, Path)) else value
    if not isinstance(paths, list) or not paths or not all(isinstance(p, (str, Path)) for p in paths):
        return MetaTensor(torch.as_tensor(np.asarray(value, dtype=np.float32)), meta={CHANNEL_DIM: 0})
    read = [read_array(p) for p in paths]
    if as_closest_canonical:
        read = [closest_canonical(array, affine) for array, affine in read]
    arrays, affines = zip(*read, strict=True)
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


@register_transform(
    "LoadNifti",
    aliases=(
        "LoadNifty",
        "LoadPng",
        "LoadJpg",
        "LoadNumpyFromFilename",
        "LoadImageMasksFromNumpy",
        "LoadImageFile",
    ),
    built_on="MONAI LoadImaged(keys, image_only=True), read by clara_tlt.io",
)
class LoadImageFields(ClaraTransform):
    """Replace each path field by its image: NIfTI, MetaImage, NRRD, a DICOM series folder, PNG/JPEG or `.npy`.

    The format is chosen by suffix (a folder is a DICOM series), and `as_closest_canonical` reorients any of
    them to lie closest to RAS+. A field holding a list of paths, or a 4-D NIfTI (MSD BraTS), becomes one
    multi-channel image (channels last until `ConvertToChannelsFirst`). Non-path values (a classification label list) become float tensors.
    Output: `MetaTensor` of shape `(*spatial)` or `(*spatial, C)`, affine RAS; no channel axis is added.
    MONAI: `LoadImaged(keys, image_only=True)`. Example: `LoadNifti(fields=["image", "label"])(sample)`.

    Clara 3.x names a loader per format (`LoadPng`, `LoadJpg`); all are this one. Clara 3.x:
    `LoadImageMasksFromNumpy` (arguments not documented); our reading: `fields` name `.npy` files of an image
    and its masks, loaded as they are stored, identity affine.
    """

    def __init__(self, fields: FieldsArg, as_closest_canonical: bool | str = False) -> None:
        self.fields = as_fields(fields)
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

    def __init__(self, fields: FieldsArg) -> None:
        self.key = one_field(fields)

    def _image(self, data: dict[str, Any]) -> MetaTensor:
        value = data[self.key]
        return load_field(value) if isinstance(value, (str, Path, list)) else as_meta(value)


@register_transform("LoadResolutionFromNifty", built_on="MONAI MetaTensor.pixdim")
class LoadResolution(_FieldProperty):
    """Add `<key>_resolution`: the voxel spacing of field `key` (from its affine, or the file's header)."""

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        spacing = torch.linalg.norm(self._image(data).affine[:-1, :-1].double(), dim=0)
        return {**data, f"{self.key}_resolution": spacing.tolist()}


@register_transform("Load3DShapeFromNumpy", built_on="MONAI MetaTensor.shape")
class LoadSpatialShape(_FieldProperty):
    """Add `<key>_shape`: the spatial shape of field `key` (a loaded image, or the file it names)."""

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        return {**data, f"{self.key}_shape": list(spatial_shape(self._image(data)))}


@register_transform("WriteNiftyResults", built_on="MONAI SaveImaged")
class WriteNiftyResults(ClaraTransform):
    """Write the field `<key>` to `<write_path>/<name>/<name>_<key>.nii.gz` (`suffix`; atomically, through `clara_tlt.io`).

    `<name>` is the stem of the file the field (or `image`) was loaded from, made safe and told apart from the
    other cases' by `clara_tlt.io.outputs` (a target outside `write_path` is refused). One channel is written as a volume,
    several as a vector image (channels last, as MONAI writes them). MONAI: `SaveImaged(keys, output_dir,
    output_postfix)`.
    """

    suffix = ".nii.gz"  # the writer of another format changes only this

    def __init__(self, fields: FieldsArg, write_path: str = ".", dtype: str = "float32") -> None:
        self.key = one_field(fields)
        self.write_path = Path(write_path)
        self.dtype = np.dtype(dtype)

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        image = get_field(data, self.key, self)
        source = image.meta.get("filename_or_obj") or getattr(data.get("image"), "meta", {}).get(
            "filename_or_obj"
        )
        name = name_of(data, source)
        affine = image.affine.detach().cpu().numpy()
        target = inside(
            self.write_path, self.write_path / name / f"{name}_{self.key}{self.suffix}", source=source
        )
        write_array(writable_array(image).astype(self.dtype), affine, target)
        return {**data, f"{self.key}_path": str(target)}
