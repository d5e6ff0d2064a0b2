"""The segmentation pipeline: volumes brought to `output_crop_size`, optionally one volume per batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from monai.data import MetaTensor

from clara_tlt.data.pipelines.base import ImagePipeline, Sample, check_channels
from clara_tlt.errors import ImageReadError
from clara_tlt.factory.registry import register
from clara_tlt.transforms.base import spatial_shape
from clara_tlt.transforms.crop import crop, fitted_start
from clara_tlt.transforms.labels import describe_values, label_values_outside


@register("image_pipeline", "SegmentationImagePipeline")
@dataclass(eq=False, kw_only=True)
class SegmentationImagePipeline(ImagePipeline):
    """Segmentation batches: `image` `(N, C, *spatial)` float32, `label` `(N, 1, *spatial)`, no caching.

    `output_crop_size`: `image_fields` are zero padded / centre cropped to this spatial size (−1: keep the axis).
    `output_image_channels` / `output_label_channels`: the channels (first axis) each sample's `image` / `label`
    must have, checked (a clear error otherwise). Other options: `ImagePipeline`'s.
    MONAI: `Dataset(datalist, Compose(transforms))` + `DataLoader(batch_size, collate_fn=list_data_collate)`.
    """

    output_label_channels: int | None = None
    image_fields: Sequence[str] = ("image", "label")

    def check_label_values(self, label: Any) -> None:
        """ImageReadError naming the file and the values when a sample's label holds values outside the
        network's `label_classes` (the loss's one-hot would fail on them without naming either)."""
        if self.label_classes is None or not isinstance(label, torch.Tensor):
            return
        outside = label_values_outside(label, self.label_classes)
        if outside:
            source = getattr(label, "meta", {}).get("filename_or_obj", "a label")
            raise ImageReadError(
                f"{source}: label value(s) {describe_values(outside)} outside the {self.label_classes} classes "
                f"the network tells apart (0 to {self.label_classes - 1}); fix the label file, or give the "
                "network as many classes as the labels have values (num_classes / out_channels)"
            )

    def finish(self, sample: Sample) -> Sample:
        """Check the channels of image and label; bring image fields to `output_crop_size` (zero pad / centre
        crop)."""
        check_channels("image", sample.get("image"), axis=0, wanted=self.output_image_channels)
        check_channels("label", sample.get("label"), axis=0, wanted=self.output_label_channels)
        self.check_label_values(sample.get("label"))
        size_given = self.output_crop_size
        if not size_given or all(s <= 0 for s in size_given):
            return sample
        out = dict(sample)
        for key in self.image_fields:
            value = out.get(key)
            if isinstance(value, MetaTensor) and len(spatial_shape(value)) == len(size_given):
                shape = spatial_shape(value)
                size = [d if s <= 0 else s for s, d in zip(size_given, shape, strict=True)]
                if list(shape) != size:
                    out[key] = crop(value, fitted_start([d // 2 for d in shape], size, shape), size)
        return out
