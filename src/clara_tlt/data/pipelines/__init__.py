"""Clara's image pipelines (seed 004): a datalist and the section's pre-transforms → batches for an engine.

The API an engine uses::

    pipeline = build(spec, "image_pipeline", ..., inject={"transforms": pre_transforms})   # reads the datalist only
    pipeline.set_random_state(seed)          # with `determinism`: same seed → same batches
    for epoch in range(epochs):
        pipeline.set_epoch(epoch)            # shuffles, tells epoch-aware transforms, refreshes the smart cache
        for batch in pipeline:               # dicts of batched tensors: batch["image"] is (N, C, *spatial)
            ...
    pipeline.close()

`len(pipeline)` is the number of batches per epoch and `pipeline.entries` the datalist entries it reads.
Transforms are split where the first random one stands: the deterministic head (loading, channels, intensity
range) runs in `num_workers` threads, and is cached by the `WithCache` pipeline (MONAI CacheDataset or, with
fewer cache slots than volumes, SmartCacheDataset replacing `replace_percent` of them each epoch); the random
tail runs in list order in one thread, so seeded runs repeat exactly. `prefetch_size` batches are prepared
ahead in a background thread (MONAI ThreadBuffer).

Modules: `base` (options, datalist, engine API, batching), `segmentation`, `cached`, `classification`.
"""

from clara_tlt.data.pipelines.base import ImagePipeline
from clara_tlt.data.pipelines.cached import SegmentationImagePipelineWithCache
from clara_tlt.data.pipelines.classification import ClassificationImagePipeline
from clara_tlt.data.pipelines.segmentation import SegmentationImagePipeline

__all__ = [
    "ClassificationImagePipeline",
    "ImagePipeline",
    "SegmentationImagePipeline",
    "SegmentationImagePipelineWithCache",
]
