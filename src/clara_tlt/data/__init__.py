"""Datalists and image pipelines (the `image_pipeline` components of a config).

Importing this package registers the image pipelines (kind "image_pipeline"); it imports torch and MONAI.
Layer: the catalogue (tests/layers.py), beside transforms, learning, metrics, inferers and writers.
"""

from clara_tlt.data import pipelines
from clara_tlt.data.pipelines import (
    ClassificationImagePipeline,
    ImagePipeline,
    SegmentationImagePipeline,
    SegmentationImagePipelineWithCache,
)

__all__ = [
    "ClassificationImagePipeline",
    "ImagePipeline",
    "SegmentationImagePipeline",
    "SegmentationImagePipelineWithCache",
    "pipelines",
]
