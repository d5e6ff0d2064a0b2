"""The bring-your-own inference API of AIAA (seed 002), on our samples.

A custom inference is a class with `inference(name, data, config, triton_config)` and `close()`, found by its
dotted name in the config folder's `lib/` (or the MMAR's `custom/`, `lib/`). `data` is a `TransformContext`
over the pre-processed sample; images in it are `MedicalImage`s holding NumPy arrays and their shape format.

>>> ctx = TransformContext({"image": torch.zeros(1, 32, 32, 16)})
>>> ctx.get_image("image").get_shape_format(), ctx.get_image("image").get_data().shape
('CDHW', (1, 32, 32, 16))
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor

from clara_tlt.transforms.base import channel_dim, set_layout

SPATIAL_LETTERS = {1: "W", 2: "HW", 3: "DHW"}


class MedicalImage:
    """An array and its shape format: `CDHW` (channel first, 3-D), `DHWC`, `CHW`, `DHW`, …

    `meta` carries the geometry (affine, source file) from the field it was read from, so an image set back
    into the context keeps overlaying its input.
    """

    def __init__(self, data: Any, shape_format: str, meta: Mapping[str, Any] | None = None) -> None:
        self.data = data.detach().cpu().numpy() if isinstance(data, torch.Tensor) else np.asarray(data)
        self.shape_format = shape_format
        self.meta = dict(meta or {})

    def get_data(self) -> np.ndarray:
        """The array, e.g. `(C, D, H, W)` for `CDHW`."""
        return self.data

    def get_shape_format(self) -> str:
        return self.shape_format


def shape_format_of(image: torch.Tensor) -> str:
    """`CDHW` for a channel-first 3-D field, `DHWC` for channel last, `DHW` without a channel axis."""
    dim = channel_dim(image)
    spatial = SPATIAL_LETTERS.get(image.ndim - (dim is not None), "")
    if dim is None:
        return spatial
    return "C" + spatial if dim == 0 else spatial + "C"


class TransformContext:
    """The sample of one case as AIAA's transform context: fields by name, images as `MedicalImage`s."""

    def __init__(self, sample: Mapping[str, Any]) -> None:
        self.sample = dict(sample)

    def get_image(self, field: str) -> MedicalImage:
        """The field as a `MedicalImage` (KeyError naming the fields present when it is missing)."""
        if field not in self.sample:
            raise KeyError(f"no image '{field}' in the context; fields: {', '.join(self.sample)}")
        value = self.sample[field]
        meta = copy.deepcopy(getattr(value, "meta", {}))
        return MedicalImage(torch.as_tensor(value), shape_format_of(torch.as_tensor(value)), meta)

    def set_image(self, field: str, image: MedicalImage) -> None:
        """Store `image` under `field`; its geometry is its own meta's, else that of the `image` field."""
        meta = image.meta or copy.deepcopy(getattr(self.sample.get("image"), "meta", {}))
        data = torch.as_tensor(np.ascontiguousarray(image.get_data()))
        self.sample[field] = set_layout(
            MetaTensor(data, meta=meta), _channel_axis(image.get_shape_format(), data.ndim)
        )

    def get(self, field: str, default: Any = None) -> Any:
        """Any field of the sample (points, file names, …)."""
        return self.sample.get(field, default)

    def set(self, field: str, value: Any) -> None:
        self.sample[field] = value


def _channel_axis(shape_format: str, ndim: int) -> int | None:
    """The channel axis a shape format names; an array with one axis fewer than its format has none."""
    if "C" not in shape_format or ndim < len(shape_format):
        return None
    return 0 if shape_format.startswith("C") else -1


class ModelConfig:
    """An AIAA model config as the inference sees it: the parsed JSON and where the model file is."""

    def __init__(self, config: Mapping[str, Any], *, model_path: str | Path | None, file: str = "") -> None:
        self.config = dict(config)
        self.model_path = str(model_path) if model_path is not None else None
        self.file = file

    def get_path(self) -> str | None:
        """The model file (`--model_save_path`)."""
        return self.model_path

    def get_type(self) -> str:
        return str(self.config.get("type", ""))

    def get_labels(self) -> list[str]:
        return list(self.config.get("labels") or [])

    def get_description(self) -> str:
        return str(self.config.get("description", ""))

    def get_inference(self) -> dict[str, Any]:
        return dict(self.config.get("inference") or {})


class Inference:
    """Base class of a custom inference: fill `data` (a `TransformContext`) with the model's output."""

    def inference(self, name: str, data: Any, config: ModelConfig, triton_config: Any) -> Any:
        """Defines an inference procedure; returns the context (or a dict of fields)."""
        raise NotImplementedError

    def close(self) -> None:
        """Closes any resources you might have opened."""


def init_external_class(spec: Mapping[str, Any], *, search_dirs: tuple[Path, ...] = ()) -> Any:
    """Build `{"path" | "name": "module.Class", "args": {…}}`: a network (or any class) of your own.

    Names registered for networks (`UNet`, `SegAhnet`, MONAI's) work too; dotted paths are imported from
    `search_dirs` and the `lib/` folders already on `sys.path`.
    """
    from clara_tlt.components import build

    return build(dict(spec), "network", file="inference", key_path="network", search_dirs=search_dirs)


class InferenceUtils:
    """AIAA's helper namespace, so a ported custom inference keeps its `InferenceUtils.…` calls."""

    init_external_class = staticmethod(init_external_class)
