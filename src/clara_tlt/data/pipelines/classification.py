"""The classification pipeline: 2D images in the layout a classification network takes, labels as floats."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from monai.data import MetaTensor

from clara_tlt.components import register
from clara_tlt.data.pipelines.base import ImagePipeline, Sample
from clara_tlt.errors import ConfigError
from clara_tlt.transforms.base import channel_dim, set_layout, spatial_shape

DATA_FORMATS = {"channels_first": 0, "channels_last": -1}  # → the channel axis of a sample


@register("image_pipeline", "ClassificationImagePipeline")
@dataclass(eq=False, kw_only=True)
class ClassificationImagePipeline(ImagePipeline):
    """Classification batches: `image` `(N, H, W, C)` (channels last) or `(N, C, H, W)`, `label` `(N, K)` float.

    Each sample must come out of the transforms with spatial size `output_crop_size` and
    `output_image_channels` channels; the layout is converted to `output_data_format` where needed.
    MONAI: `Dataset` + `DataLoader`; `EnsureChannelFirstd`/`Transposed` for the layout.
    """

    output_data_format: str = "channels_first"
    output_image_channels: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.output_data_format not in DATA_FORMATS:
            raise ConfigError(
                f"output_data_format must be one of {', '.join(map(repr, DATA_FORMATS))}, "
                f"got {self.output_data_format!r}"
            )

    def finish(self, sample: Sample) -> Sample:
        """Check the image's size and channels, move its channel axis to `output_data_format`, labels → float."""
        image = sample["image"]
        if not isinstance(image, MetaTensor):
            raise ConfigError(
                "ClassificationImagePipeline: 'image' must be loaded by the transforms (add LoadPng)"
            )
        wanted = DATA_FORMATS[self.output_data_format]
        layout = channel_dim(image)
        if layout is None:  # a grey picture without a channel axis: add it where the output wants it
            image = set_layout(image.unsqueeze(wanted), wanted)
            layout = wanted
        shape = spatial_shape(image)
        if self.output_crop_size and list(shape) != list(self.output_crop_size):
            raise ConfigError(
                f"image has spatial size {list(shape)}, not output_crop_size {list(self.output_crop_size)}: "
                "add ScaleToShape to the transforms"
            )
        channels = image.shape[layout]
        if self.output_image_channels and channels != self.output_image_channels:
            raise ConfigError(
                f"image has {channels} channels, not output_image_channels {self.output_image_channels}"
            )
        if layout != wanted:
            image = image.movedim(layout, wanted)
        out = {**sample, "image": set_layout(image, wanted)}
        if "label" in out and not isinstance(out["label"], torch.Tensor):
            out["label"] = torch.as_tensor(np.asarray(out["label"], dtype=np.float32))
        return out
