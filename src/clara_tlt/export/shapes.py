"""The input an exported model takes: channels from the network, spatial size from the config's ROI.

Channel-first networks take `(N, C, *spatial)`; Clara's channels_last classifiers take `(N, *spatial, C)`.
The batch is always dynamic (1 … max_batch_size); with `dynamic` the spatial sizes are too, and the TensorRT
profile spans from the ROI to twice the ROI on every spatial axis.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from clara_tlt.errors import ConfigError

CONVOLUTIONS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
# Where a Clara config states the size a network sees, most specific first.
SIZE_KEYS = (
    ("validate", "inferer", "args", "roi_size"),
    ("validate", "image_pipeline", "args", "output_crop_size"),
    ("train", "image_pipeline", "args", "output_crop_size"),
)
DYNAMIC_SPATIAL_GROWTH = 2  # the dynamic profile's largest spatial size, in multiples of the ROI


@dataclass(frozen=True)
class ExportShape:
    """The export input: `channels`, `spatial` sizes of the example, layout and what is dynamic."""

    channels: int
    spatial: tuple[int, ...]
    channels_last: bool
    dynamic: bool
    max_batch_size: int

    def input_shape(self, batch: int, spatial: tuple[int, ...] | None = None) -> tuple[int, ...]:
        """`(batch, C, *spatial)`, or `(batch, *spatial, C)` for channels_last."""
        sizes = spatial or self.spatial
        return (batch, *sizes, self.channels) if self.channels_last else (batch, self.channels, *sizes)

    @property
    def spatial_axes(self) -> tuple[int, ...]:
        first = 1 if self.channels_last else 2
        return tuple(range(first, first + len(self.spatial)))

    def example(self) -> torch.Tensor:
        """A batch-1 random input of the export shape (what tracing sees)."""
        return torch.rand(self.input_shape(1))

    def check_shapes(self) -> list[tuple[int, ...]]:
        """The inputs every artefact is verified on: batch 1, a second batch size, with `dynamic` a second
        spatial size (every spatial axis doubled: all of them change, and any divisibility the network needs
        is kept)."""
        shapes = [self.input_shape(1)]
        if self.max_batch_size > 1:
            shapes.append(self.input_shape(2))
        if self.dynamic:
            shapes.append(self.input_shape(1, self.largest_spatial()))
        return shapes

    def input_axes(self) -> dict[int, str]:
        """Dynamic input axes by name: the batch, and with `dynamic` every spatial axis."""
        axes = {0: "batch"}
        if self.dynamic:
            axes |= {axis: f"spatial_{i}" for i, axis in enumerate(self.spatial_axes)}
        return axes

    def input_dims(self) -> list[int]:
        """Triton's input `dims`: the shape without the batch, -1 where dynamic."""
        return dims_without_batch(self.input_shape(1), self.input_axes())

    def profile(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """TensorRT's optimisation profile (min, opt, max): batch 1 … max_batch_size, spatial ROI … 2×ROI."""
        largest = self.largest_spatial() if self.dynamic else self.spatial
        return self.input_shape(1), self.input_shape(1), self.input_shape(self.max_batch_size, largest)

    def largest_spatial(self) -> tuple[int, ...]:
        """The largest spatial size of the dynamic range (and the second size verified)."""
        return tuple(size * DYNAMIC_SPATIAL_GROWTH for size in self.spatial)


def export_shape(
    network: nn.Module, config: Mapping[str, Any], *, dynamic: bool, max_batch_size: int
) -> ExportShape:
    """The export input of `network`: channels and dimensionality from its first convolution, spatial size
    from `config` (a resolved training config: the validation ROI, else a crop size)."""
    first = next((m for m in network.modules() if isinstance(m, CONVOLUTIONS)), None)
    if first is None:
        raise ConfigError(
            "the network has no convolution to tell its input channels from; it cannot be exported"
        )
    dims = first.weight.ndim - 2
    return ExportShape(
        channels=first.in_channels,
        spatial=spatial_size(config, dims),
        channels_last=bool(getattr(network, "channels_last", False)),
        dynamic=dynamic,
        max_batch_size=max_batch_size,
    )


def spatial_size(config: Mapping[str, Any], dims: int) -> tuple[int, ...]:
    """The first positive `dims`-long size among SIZE_KEYS in `config`."""
    for keys in SIZE_KEYS:
        value: Any = config
        for key in keys:
            value = value.get(key) if isinstance(value, Mapping) else None
        if (
            isinstance(value, list)
            and len(value) == dims
            and all(isinstance(v, int) and v > 0 for v in value)
        ):
            return tuple(value)
    wanted = " or ".join(".".join(keys) for keys in SIZE_KEYS)
    raise ConfigError(
        f"the config states no {dims}-D input size to export at; set {wanted} (positive sizes) in the "
        "training config, or give one with -c"
    )


def dynamic_output_axes(shapes: list[tuple[int, ...]]) -> dict[int, str]:
    """Output axes whose size changed across the verification outputs (the batch always), named for ONNX."""
    axes = {0: "batch"}
    axes |= {
        axis: f"output_{axis}" for axis in range(1, len(shapes[0])) if len({s[axis] for s in shapes}) > 1
    }
    return axes


def dims_without_batch(shape: tuple[int, ...], dynamic_axes: Mapping[int, str]) -> list[int]:
    """Triton's `dims` of a tensor of `shape`: the batch left out, -1 on each dynamic axis."""
    return [-1 if axis in dynamic_axes else size for axis, size in enumerate(shape)][1:]
