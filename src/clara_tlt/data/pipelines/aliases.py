"""Clara 3.1 names that build the same component as another registered name.

Clara 3.1's Keras image pipelines differ from their twins only in the backend that runs the workers; ours have
one backend, so each Keras name builds its twin (an argument only the Keras pipeline had is refused by name).
"""

from __future__ import annotations

from clara_tlt.data.pipelines import classification_cached as classification_cached  # registers its name
from clara_tlt.factory.registry import register_alias

KERAS_TWINS = {
    "SegmentationKerasImagePipeline": "SegmentationImagePipeline",
    "SegmentationKerasImagePipelineWithCache": "SegmentationImagePipelineWithCache",
    "ClassificationKerasImagePipeline": "ClassificationImagePipeline",
    "ClassificationKerasImagePipelineWithCache": "ClassificationImagePipelineWithCache",
}

for keras_name, twin in KERAS_TWINS.items():
    register_alias("image_pipeline", keras_name, of=twin)
