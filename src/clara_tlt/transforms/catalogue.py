"""Clara 3.1 transform names the rest of the catalogue does not cover (issue 13): batch transforms, and
`SaveAsNifti`, which writes what the pipeline made of a sample so far (Clara's FAQ: debugging augmentation).

`MergeBatchDims` is a batch transform (a config's `batch_transforms`): Clara's crops gave each volume a batch
of `B` samples, so a batch of `N` volumes arrived as `(N, B, C, *spatial)`, which it merged to
`(N·B, C, *spatial)`. Our pipelines already stack crops sample by sample, `(N, C, *spatial)`: those pass
through unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from clara_tlt.errors import ConfigError
from clara_tlt.io.arrays import array_suffix, write_array
from clara_tlt.transforms.base import (
    ClaraTransform,
    FieldsArg,
    as_fields,
    get_field,
    register_transform,
    writable_array,
)


@register_transform("MergeBatchDims", built_on="ours (a batch transform)")
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


@register_transform("SaveAsNifti", built_on="ours (clara_tlt.io writers)")
class SaveAsNifti(ClaraTransform):
    """Write each of `fields` (one 3-D volume, or one channel of it) to
    `<out_dir>/<name>_<field>_<n>.nii.gz`, `<name>` the stem of the image's file and `n` counting the samples
    this transform has written (so each crop of a volume is kept); the sample passes on unchanged.

    Clara's `interrupt` paused training for a key press after writing, which a batch run cannot do here.
    """

    def __init__(self, fields: FieldsArg, out_dir: str, interrupt: bool = False) -> None:
        if interrupt:
            raise ConfigError(
                "SaveAsNifti's interrupt (wait for a key press) cannot be honoured in a training run; set it "
                "false, and stop the run with Ctrl-C once the files are written"
            )
        self.fields = as_fields(fields)
        self.out_dir = Path(out_dir)
        self.count = 0

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        self.count += 1
        for key in self.fields:
            image = get_field(data, key, self)
            array = writable_array(image)
            source = str(getattr(data.get("image"), "meta", {}).get("filename_or_obj") or "sample")
            name = Path(source).name
            name = name[: -len(array_suffix(name))] if array_suffix(name) else Path(name).stem
            self.out_dir.mkdir(parents=True, exist_ok=True)
            write_array(
                array, image.affine.detach().cpu().numpy(), self.out_dir / f"{name}_{key}_{self.count}.nii.gz"
            )
        return data
