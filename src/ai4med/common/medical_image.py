"""Clara's `ai4med.common.medical_image`: an array with its shape format and properties."""

from clara_tlt.byoc.image import MedicalImage

__all__ = ["MedicalImage"]
