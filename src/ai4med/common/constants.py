"""Clara's `ai4med.common.constants`: names of image properties and of a sample's fields."""

from clara_tlt.byoc.image import DataElementKey, ImageProperty

__all__ = ["DataElementKey", "ImageProperty"]
