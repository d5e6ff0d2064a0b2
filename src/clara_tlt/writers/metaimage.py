"""`WriteMhd`: one field of a case as MetaImage (`<name>_<field>.mhd` + `.raw`), named as the NIfTI writer names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from clara_tlt.io.arrays import array_suffix, write_array
from clara_tlt.transforms.base import ClaraTransform, FieldsArg, get_field, one_field, spatial_shape


class WriteMhd(ClaraTransform):
    """Write field `<key>` `(1, X, Y, Z)` or `(X, Y, Z)` to `<write_path>/<name>/<name>_<key>.mhd` (+ `.raw`).

    `<name>` is the stem of the file the field (or `image`) was loaded from; the affine is the field's.
    MONAI: `SaveImaged(keys, output_dir, output_postfix, output_ext=".mhd")`.
    """

    def __init__(self, fields: FieldsArg, write_path: str = ".", dtype: str = "float32") -> None:
        self.key = one_field(fields)
        self.write_path = Path(write_path)
        self.dtype = np.dtype(dtype)

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        image = get_field(data, self.key, self)
        name = case_name(image.meta.get("filename_or_obj") or _image_source(data))
        array = image.detach().cpu().numpy()
        if array.ndim > len(spatial_shape(image)) and array.shape[0] == 1:
            array = array[0]
        target = self.write_path / name / f"{name}_{self.key}.mhd"
        write_array(array.astype(self.dtype), image.affine.detach().cpu().numpy(), target)
        return {**data, f"{self.key}_path": str(target)}


def _image_source(data: dict[str, Any]) -> str | None:
    meta = getattr(data.get("image"), "meta", {})
    return meta.get("filename_or_obj")


def case_name(source: str | Path | None) -> str:
    """`/data/case_003.nii.gz` → `case_003` (the whole image suffix goes); `sample` without a source."""
    if not source:
        return "sample"
    name = Path(source).name
    suffix = array_suffix(name)
    return name[: -len(suffix)] if suffix else Path(name).stem
