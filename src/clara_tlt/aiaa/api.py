"""The bring-your-own inference API of AIAA (seed 002), on our samples.

A custom inference is a class with `inference(name, data, config, triton_config)` and `close()`, found by its
dotted name in the config folder's `lib/` (or the MMAR's `custom/`, `lib/`). `data` is a `TransformContext`
over the pre-processed sample; images in it are `MedicalImage`s holding NumPy arrays and their shape format
(both from `clara_tlt.byoc.image`, the ones Clara 3.x custom transforms use too).

>>> import torch
>>> ctx = TransformContext({"image": torch.zeros(1, 32, 32, 16)})
>>> ctx.get_image("image").get_shape_format(), ctx.get_image("image").get_data().shape
('CDHW', (1, 32, 32, 16))
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from clara_tlt.byoc.image import MedicalImage, TransformContext

__all__ = [
    "Inference",
    "InferenceUtils",
    "MedicalImage",
    "ModelConfig",
    "TransformContext",
    "init_external_class",
]


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
    from clara_tlt.factory.registry import build

    return build(dict(spec), "network", file="inference", key_path="network", search_dirs=search_dirs)


class InferenceUtils:
    """AIAA's helper namespace, so a ported custom inference keeps its `InferenceUtils.…` calls."""

    init_external_class = staticmethod(init_external_class)
