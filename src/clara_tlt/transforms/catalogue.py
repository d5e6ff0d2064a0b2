"""Clara 3.1 transform names the rest of the catalogue does not cover (issue 13): batch transforms.

`MergeBatchDims` is a batch transform (a config's `batch_transforms`): Clara's crops gave each volume a batch
of `B` samples, so a batch of `N` volumes arrived as `(N, B, C, *spatial)`, which it merged to
`(N·B, C, *spatial)`. Our pipelines already stack crops sample by sample, `(N, C, *spatial)`: those pass
through unchanged.
"""

from __future__ import annotations

from typing import Any

import torch

from clara_tlt.transforms.base import ClaraTransform, FieldsArg, as_fields, register_transform


@register_transform("MergeBatchDims")
class MergeBatchDims(ClaraTransform):
    """Merge the two leading axes of each of `fields` when it has `spatial_dims + 3` axes
    (`(N, B, C, *spatial)` → `(N·B, C, *spatial)`); other shapes are left as they are."""

    def __init__(self, fields: FieldsArg, spatial_dims: int = 3) -> None:
        self.fields = as_fields(fields)
        self.spatial_dims = spatial_dims

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        out = dict(data)
        for key in self.fields:
            value = out[key]
            if isinstance(value, torch.Tensor) and value.ndim == self.spatial_dims + 3:
                out[key] = value.reshape(-1, *value.shape[2:])
        return out
