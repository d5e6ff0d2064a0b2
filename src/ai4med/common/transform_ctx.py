"""Clara's `ai4med.common.transform_ctx`: one sample's fields, images as `MedicalImage`s."""

from clara_tlt.byoc.image import TransformContext

__all__ = ["TransformContext"]
