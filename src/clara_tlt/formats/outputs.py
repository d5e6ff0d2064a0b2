"""The names of what infer, evaluate and deploy write predictions as (`--output-format`).

`image`: the config's writers (NIfTI, MetaImage); `dicom-seg`: labels as a DICOM SEG in the study of each
case's DICOM series (clara_tlt.writers.dicom_seg). Imports nothing: the command line reads it without
loading torch.
"""

from __future__ import annotations

IMAGE = "image"
DICOM_SEG = "dicom-seg"
OUTPUT_FORMATS = (IMAGE, DICOM_SEG)
