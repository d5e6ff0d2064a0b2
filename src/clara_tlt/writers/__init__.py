"""Writers a config names (kind "writer"): each writes one field of a finished case, atomically, through
`clara_tlt.io`, and returns the sample with `<field>_path` added.

Output names follow the input's, as Clara named them: the field `model` of a case read from `case_003.nii.gz`
goes to `<write_path>/case_003/case_003_model.nii.gz` (`.mhd` + `.raw` for `WriteMhd`); the name is made safe
and told apart from the other cases' by `clara_tlt.io.outputs` (docs/infer.md). The affine written is
the field's own: after `CopyProperties` / `RestoreOriginalShape` that of the input file, so predictions
overlay their image in any viewer whatever the input's orientation.

`WriteDicomSeg` writes labels as a DICOM SEG of the case's source series (`--output-format dicom-seg`).

`WriteNifti` (Clara 3.x) and `WriteNiftyResults` (TLT 1.x) are the transform `WriteNiftyResults` of
`clara_tlt.transforms.io`; `WriteMhd` writes MetaImage. All take `field` (or `fields`, `applied_key`),
`write_path` and `dtype`.
Layer: the catalogue (tests/layers.py), beside transforms, learning, metrics, inferers and data.
"""

from __future__ import annotations

from clara_tlt.factory.registry import register
from clara_tlt.transforms.base import config_factory
from clara_tlt.transforms.io import WriteNiftyResults
from clara_tlt.writers import classification as classification  # registers WriteClassificationResult
from clara_tlt.writers import dicom_seg as dicom_seg  # registers WriteDicomSeg
from clara_tlt.writers.metaimage import WriteMhd

register("writer", "WriteNifti", aliases=("WriteNiftyResults",))(config_factory(WriteNiftyResults))
register("writer", "WriteMhd", aliases=("WriteMetaImage",))(config_factory(WriteMhd))

__all__ = ["WriteMhd", "WriteNiftyResults"]
