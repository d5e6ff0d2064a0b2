"""The classification pipeline: 2D images in the layout a classification network takes, labels as floats."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from monai.data import MetaTensor

from clara_tlt.data.pipelines.base import ImagePipeline, Sample, check_channels
from clara_tlt.errors import ConfigError
from clara_tlt.factory.registry import register
from clara_tlt.learning.data_format import channel_axis
from clara_tlt.transforms.base import channel_dim, set_layout, spatial_shape

# Clara 3.1 options this pipeline cannot honour when set, and what to do instead.
NOT_HONOURED = {
    "output_label_format": "labels are read as the datalist gives them (0/1 lists or class indices)",
    "extra_inputs": "the network takes the image alone; put extra inputs into image channels with transforms",
    "items_per_category": "sampling by category is not supported; balance the datalist (repeat entries of "
    "rare classes) or weight the loss (WeightedMulticlassClassificationLoss class_weights)",
    "category_weights": "sampling by category is not supported; balance the datalist (repeat entries of "
    "rare classes) or weight the loss (WeightedMulticlassClassificationLoss class_weights)",
}


@register("image_pipeline", "ClassificationImagePipeline")
@dataclass(eq=False, kw_only=True)
class ClassificationImagePipeline(ImagePipeline):
    """Classification batches: `image` `(N, H, W, C)` (channels last) or `(N, C, H, W)`, `label` `(N, K)` float.

    Each sample must come out of the transforms with spatial size `output_crop_size`, `output_data_dims`
    spatial axes and `output_image_channels` channels (each checked when given); the layout is converted to
    `output_data_format` where needed and the image cast to `output_image_dtype`. `repeat` (Clara: the
    dataset repeats without end) is what the trainer does, one pass per epoch: true only.
    `output_label_format`, `extra_inputs`, `items_per_category` and `category_weights` cannot be honoured:
    set, they fail with what to do instead (`NOT_HONOURED`). `batch_transforms` among the args are lifted to
    the section's `batch_transforms` by the workflow. Other options: `ImagePipeline`'s.
    MONAI: `Dataset` + `DataLoader`; `EnsureChannelFirstd`/`Transposed` for the layout.
    """

    channels_last_ok: ClassVar[bool] = True

    output_data_dims: int | None = None
    output_image_dtype: str = "float32"
    repeat: bool = True
    output_label_format: Any = None
    extra_inputs: Any = None
    items_per_category: Sequence[int] | None = None
    category_weights: Sequence[float] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        for name, instead in NOT_HONOURED.items():
            if getattr(self, name) is not None:
                raise ConfigError(f"{name} cannot be honoured: {instead}; remove {name}")
        if not self.repeat:
            raise ConfigError(
                "repeat false cannot be honoured: the trainer makes one pass over the data per epoch; for a "
                'single pass set "epochs": 1, and remove repeat'
            )
        if not isinstance(getattr(torch, self.output_image_dtype, None), torch.dtype):
            raise ConfigError(
                f"output_image_dtype must name a dtype (float32, float16, uint8, ...), got {self.output_image_dtype!r}"
            )

    def finish(self, sample: Sample) -> Sample:
        """Check the image's size, dims and channels, move its channel axis to `output_data_format`, cast it to
        `output_image_dtype`; labels → float."""
        image = sample["image"]
        if not isinstance(image, MetaTensor):
            raise ConfigError(
                "ClassificationImagePipeline: 'image' must be loaded by the transforms (add LoadPng)"
            )
        wanted = channel_axis(self.output_data_format)
        layout = channel_dim(image)
        if layout is None:  # a grey picture without a channel axis: add it where the output wants it
            image = set_layout(image.unsqueeze(wanted), wanted)
            layout = wanted
        shape = spatial_shape(image)
        if self.output_data_dims and len(shape) != self.output_data_dims:
            raise ConfigError(
                f"image has {len(shape)} spatial axes {list(shape)}, not output_data_dims {self.output_data_dims}"
            )
        if self.output_crop_size and list(shape) != list(self.output_crop_size):
            raise ConfigError(
                f"image has spatial size {list(shape)}, not output_crop_size {list(self.output_crop_size)}: "
                "add ScaleToShape to the transforms"
            )
        check_channels("image", image, axis=layout, wanted=self.output_image_channels)
        if layout != wanted:
            image = image.movedim(layout, wanted)
        image = set_layout(image.to(getattr(torch, self.output_image_dtype)), wanted)
        out = {**sample, "image": image}
        if "label" in out and not isinstance(out["label"], torch.Tensor):
            out["label"] = torch.as_tensor(np.asarray(out["label"], dtype=np.float32))
        return out
