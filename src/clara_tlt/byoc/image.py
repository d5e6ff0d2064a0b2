"""Clara's `MedicalImage`, `ShapeFormat`, `ImageProperty` and `TransformContext`, on our samples.

A sample's image fields are channel-first MONAI `MetaTensor`s; custom code sees each as a `MedicalImage`: a NumPy
array, its shape format (`CDHW`, `DHW`, `DHWC`, …) and its properties (the field's meta: affine, file name, …).

>>> ctx = TransformContext({"image": torch.zeros(1, 32, 32, 16)})
>>> image = ctx.get_image("image")
>>> image.get_shape_format(), image.get_shape_format().get_channel_axis(), image.get_data().shape
('CDHW', 0, (1, 32, 32, 16))
>>> ctx.set_image("image", image.new_image(image.get_data() + 1, image.get_shape_format()))
>>> float(ctx["image"].max())
1.0
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor

from clara_tlt.transforms.base import channel_dim, set_layout

SPATIAL_LETTERS = {1: "W", 2: "HW", 3: "DHW"}
FORMAT_LETTERS = frozenset("NCDHW")


class ShapeFormat(str):
    """What each axis of an array is: N batch, C channel, D depth, H height, W width (`"CDHW"`, `"NHWC"`, …).

    A string, so `image.get_shape_format() == "CDHW"` holds; the methods are Clara's convenience queries.
    """

    def __new__(cls, value: str) -> ShapeFormat:
        text = str(value).upper()
        if not text or set(text) - FORMAT_LETTERS or len(set(text)) != len(text) or "W" not in text:
            raise ValueError(
                f"not a shape format: {value!r}; use letters N, C, D, H, W such as 'CDHW' or 'HWC'"
            )
        return super().__new__(cls, text)

    def get_number_of_dims(self) -> int:
        return len(self)

    def get_number_of_spatial_dims(self) -> int:
        return sum(letter in "DHW" for letter in self)

    def is_2d(self) -> bool:
        return self.get_number_of_spatial_dims() == 2

    def is_3d(self) -> bool:
        return self.get_number_of_spatial_dims() == 3

    def is_channeled(self) -> bool:
        return "C" in self

    def is_batched(self) -> bool:
        return "N" in self

    def get_channel_axis(self) -> int | None:
        """The channel axis (an index into the array's shape), None without one."""
        return self.index("C") if "C" in self else None

    def get_batch_axis(self) -> int | None:
        return self.index("N") if "N" in self else None


# Clara's documented shape formats: each spatial layout alone, channel-last or channel-first, with or without a
# batch axis in front (DHW, NDHW, DHWC, NDHWC, CDHW, NCDHW, and the same in 2-D).
STD_FORMATS = tuple(
    batch + layout
    for spatial in ("DHW", "HW")
    for layout in (spatial, spatial + "C", "C" + spatial)
    for batch in ("", "N")
)


class StdShapeFormat:
    """The shape formats Clara's documentation lists, one `ShapeFormat` attribute each (`StdShapeFormat.NCDHW`):
    those of `STD_FORMATS`, set below."""


for _name in STD_FORMATS:
    setattr(StdShapeFormat, _name, ShapeFormat(_name))


class ImageProperty:
    """Names of an image's properties; those with a MONAI meta key are that key, so loaded images have them."""

    DATA = "data"
    FILENAME = "filename_or_obj"  # MONAI's loaders record the file here
    AFFINE = "affine"
    ORIGINAL_SHAPE = "spatial_shape"  # the spatial shape as loaded
    ORIGINAL_SHAPE_FORMAT = "original_shape_format"
    SPACING = "spacing"
    FORMAT = "file_format"
    NIFTI_FORMAT = "nii"
    IS_CANONICAL = "is_canonical"
    SHAPE_FORMAT = "shape_format"
    BACKGROUND_INDEX = "background_index"


class DataElementKey:
    """The field names Clara's pipelines give the image and the label."""

    IMAGE = "image"
    LABEL = "label"


class MedicalImage:
    """An array, its `ShapeFormat` and its properties; the number of axes must match the format.

    `meta` is the properties dict itself: the geometry of the field the image came from, so an image set back
    into the context keeps overlaying its input.
    """

    def __init__(self, data: Any, shape_format: str, properties: Mapping[str, Any] | None = None) -> None:
        self.meta: dict[str, Any] = dict(properties or {})
        self.set_data(data, shape_format)

    def set_data(self, data: Any, shape_format: str) -> None:
        """Replace the array and its format (ValueError when their numbers of axes differ); an array with one axis
        fewer than a channelled format has no channel axis (AIAA's example stores a squeezed output as `CDHW`)."""
        array = data.detach().cpu().numpy() if isinstance(data, torch.Tensor) else np.asarray(data)
        fmt = ShapeFormat(shape_format)
        if array.ndim == len(fmt) - 1 and fmt.is_channeled():
            fmt = ShapeFormat(fmt.replace("C", ""))
        if array.ndim != len(fmt):
            raise ValueError(
                f"an array of shape {array.shape} has {array.ndim} axes; shape format {fmt} has {len(fmt)}"
            )
        self.data, self.shape_format = array, fmt

    def get_data(self) -> np.ndarray:
        """The array, e.g. `(C, D, H, W)` for `CDHW`."""
        return self.data

    def get_shape_format(self) -> ShapeFormat:
        return self.shape_format

    def get_properties(self) -> dict[str, Any]:
        return self.meta

    def get_property(self, key: str, default: Any = None) -> Any:
        """A property (`ImageProperty.AFFINE`, …) as NumPy where it is a tensor; `default` when absent."""
        value = self.meta.get(key, default)
        return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value

    def set_property(self, key: str, value: Any) -> None:
        self.meta[key] = value

    def new_image(self, data: Any, shape_format: str) -> MedicalImage:
        """A new image of `data` carrying (a copy of) this image's properties."""
        return MedicalImage(data, shape_format, copy.deepcopy(self.meta))


def shape_format_of(image: torch.Tensor) -> ShapeFormat:
    """`CDHW` for a channel-first 3-D field, `DHWC` for channel last, `DHW` without a channel axis."""
    dim = channel_dim(image)
    spatial = SPATIAL_LETTERS.get(image.ndim - (dim is not None), "")
    if dim is None:
        return ShapeFormat(spatial)
    return ShapeFormat("C" + spatial if dim == 0 else spatial + "C")


class TransformContext(MutableMapping[str, Any]):
    """One sample as Clara's transform context: fields by name (`ctx[field]`), images as `MedicalImage`s."""

    def __init__(self, sample: Mapping[str, Any]) -> None:
        self.sample = dict(sample)

    def get_image(self, field: str) -> MedicalImage:
        """The field as a `MedicalImage` holding a copy (a cached sample is never changed in place)."""
        if field not in self.sample:
            raise KeyError(f"no image '{field}' in the context; fields: {', '.join(self.sample)}")
        value = torch.as_tensor(self.sample[field])
        meta = copy.deepcopy(getattr(self.sample[field], "meta", {}))
        return MedicalImage(value.detach().cpu().numpy().copy(), shape_format_of(value), meta)

    def set_image(self, field: str, image: MedicalImage) -> None:
        """Store `image` under `field`; its geometry is its own properties', else that of the `image` field."""
        meta = image.meta or copy.deepcopy(getattr(self.sample.get("image"), "meta", {}))
        data = torch.as_tensor(np.ascontiguousarray(image.get_data()))
        fmt = image.get_shape_format()
        if fmt.is_batched():
            raise ValueError(f"'{field}': a sample holds one case; shape format {fmt} has a batch axis")
        self.sample[field] = set_layout(MetaTensor(data, meta=meta), _channel_axis(fmt))

    def set(self, field: str, value: Any) -> None:
        self.sample[field] = value

    def __getitem__(self, field: str) -> Any:
        return self.sample[field]

    def __setitem__(self, field: str, value: Any) -> None:
        self.sample[field] = value

    def __delitem__(self, field: str) -> None:
        del self.sample[field]

    def __iter__(self) -> Iterator[str]:
        return iter(self.sample)

    def __len__(self) -> int:
        return len(self.sample)


def _channel_axis(fmt: ShapeFormat) -> int | None:
    """Our layout's channel axis for a format: 0 (first), -1 (last) or None; a channel between spatial axes
    has no layout here."""
    axis = fmt.get_channel_axis()
    if axis not in (None, 0, len(fmt) - 1):
        raise ValueError(f"shape format {fmt}: put the channel axis first or last (e.g. CDHW or DHWC)")
    return None if axis is None else 0 if axis == 0 else -1
