"""The base classes Clara 3.x custom components subclass, on our engine.

- `Transformer` / `MultiFieldTransformer`: `transform(transform_ctx)` on a `TransformContext`; an instance is
  also our dict in / dict out transform, so a pipeline runs it like ours. One whose `is_deterministic()` says
  False is counted random (never cached, run every epoch).
- `Loss`: a `torch.nn.Module` whose `forward(prediction, target)` is `get_loss(predictions, targets)`, written
  in PyTorch: `predictions` the network's output `(N, C, *spatial)`, `targets` the label `(N, 1, *spatial)`.
- `Model`: a `torch.nn.Module` whose `forward(inputs)` is `get_predictions(inputs, is_training)`.

There is no TensorFlow graph, so `build_ctx` is always None.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from monai.transforms import RandomizableTrait, Transform

from clara_tlt.byoc.image import TransformContext
from clara_tlt.factory.errors import OUR_PACKAGE
from clara_tlt.transforms.base import FieldsArg, as_fields


class Transformer:
    """A transform of a `TransformContext`: subclasses give `transform(transform_ctx)` and return the context."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Mark the class as a pipeline reads it: deterministic ones a MONAI `Transform` (their output may be
        cached), random ones a `RandomizableTrait` where a deterministic parent made them a `Transform`."""
        super().__init_subclass__(**kwargs)
        if cls.__module__.startswith(OUR_PACKAGE + "."):
            return  # our bases: what their subclasses are is theirs to say
        if _deterministic(cls):
            Transform.register(cls)
        elif issubclass(cls, Transform) and not issubclass(cls, RandomizableTrait):
            cls.__bases__ = (*cls.__bases__, RandomizableTrait)

    def transform(self, transform_ctx: TransformContext) -> TransformContext:
        raise NotImplementedError

    def is_deterministic(self) -> bool:
        """Whether the output depends on the input alone; random transforms return False."""
        return True

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        context = TransformContext(data)
        returned = self.transform(context)
        return (returned if isinstance(returned, TransformContext) else context).sample


class MultiFieldTransformer(Transformer):
    """A transform of each of `fields` (a field name or a list of them), kept as the list `self.fields`."""

    def __init__(self, fields: FieldsArg) -> None:
        self.fields = list(as_fields(fields))


def _deterministic(cls: type[Transformer]) -> bool:
    """What `cls().is_deterministic()` says, asked without constructing one; False when it cannot say."""
    try:
        return bool(cls.is_deterministic(object.__new__(cls)))
    except Exception:
        return False


class Loss(torch.nn.Module):
    """A loss: subclasses give `get_loss(predictions, targets, build_ctx=None)` returning a scalar tensor."""

    def get_loss(
        self, predictions: torch.Tensor, targets: torch.Tensor, build_ctx: Any = None
    ) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.get_loss(input, target, build_ctx=None)


class Model(torch.nn.Module):
    """A network: subclasses build their layers in `__init__` and give `get_predictions(inputs, is_training)`."""

    def get_predictions(self, inputs: torch.Tensor, is_training: bool, build_ctx: Any = None) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.get_predictions(inputs, is_training=self.training, build_ctx=None)


def str_to_dtype(name: str) -> type[np.generic]:
    """The NumPy type a config names (`"float32"` → `numpy.float32`); ValueError naming an unknown one."""
    try:
        return np.dtype(name).type
    except TypeError:
        raise ValueError(f"unknown dtype {name!r}; e.g. 'float32', 'int16', 'uint8'") from None
