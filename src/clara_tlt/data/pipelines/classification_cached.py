"""The cached classification pipeline (Clara 3.1 `ClassificationImagePipelineWithCache`): classification
batches as `ClassificationImagePipeline` makes them, with the deterministic head of each image kept in memory
(smart cache with `num_cache_objects` and `replace_percent`) as `SegmentationImagePipelineWithCache` keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass

from clara_tlt.data.pipelines.cached import SegmentationImagePipelineWithCache
from clara_tlt.data.pipelines.classification import ClassificationImagePipeline
from clara_tlt.factory.registry import register


@register("image_pipeline", "ClassificationImagePipelineWithCache")
@dataclass(eq=False, kw_only=True)
class ClassificationImagePipelineWithCache(ClassificationImagePipeline, SegmentationImagePipelineWithCache):
    """Classification batches (`image` `(N, C, H, W)` or `(N, H, W, C)`, `label` `(N, K)` float) whose
    deterministic head is cached: `finish` is the classification pipeline's, the cache the cached pipeline's.
    MONAI: `CacheDataset` / `SmartCacheDataset` + `DataLoader`.
    """
