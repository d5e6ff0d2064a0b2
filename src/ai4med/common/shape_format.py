"""Clara's `ai4med.common.shape_format`: what each axis of an array is (`CDHW`, `HWC`, …)."""

from clara_tlt.byoc.image import ShapeFormat, StdShapeFormat

__all__ = ["ShapeFormat", "StdShapeFormat"]
