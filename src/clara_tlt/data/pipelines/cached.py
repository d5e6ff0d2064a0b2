"""The cached segmentation pipeline: the deterministic head of each volume computed once and kept in memory.

With fewer cache slots than volumes the cache is a smart cache: each epoch `replace_percent` of it is replaced
by volumes not yet seen (MONAI SmartCacheDataset, refilled in background threads).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from monai.data import CacheDataset, SmartCacheDataset
from monai.transforms import Compose

from clara_tlt.data.pipelines.base import Sample
from clara_tlt.data.pipelines.segmentation import SegmentationImagePipeline
from clara_tlt.errors import ConfigError
from clara_tlt.factory.registry import register
from clara_tlt.transforms.base import ClaraTransform


class _Precompute(ClaraTransform):
    """The deterministic part of the first random transform (e.g. crop indices), run inside the cache."""

    def __init__(self, transform: Any) -> None:
        self.transform = transform

    def __call__(self, data: Sample) -> Sample:
        return self.transform.precompute(data)


@register("image_pipeline", "SegmentationImagePipelineWithCache")
@dataclass(eq=False, kw_only=True)
class SegmentationImagePipelineWithCache(SegmentationImagePipeline):
    """Like `SegmentationImagePipeline`, with the deterministic head cached in memory on first iteration.

    `num_cache_objects` volumes are cached (all when null); when that is fewer than the datalist holds,
    `replace_percent` of them are replaced by unseen volumes at each `set_epoch` (smart cache).
    The first random transform's deterministic part (foreground indices of a crop) is cached too.
    `caches_data` false: nothing is cached, the pipeline reads every volume each epoch as
    `SegmentationImagePipeline` does (`num_cache_objects` and `replace_percent` then do nothing).
    """

    caches_data: bool = True
    num_cache_objects: int | None = None
    replace_percent: float = 0.1
    seed: int = field(default=0, init=False)
    cache: CacheDataset | None = field(default=None, init=False, repr=False)
    cache_start: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.replace_percent <= 1.0:
            raise ConfigError(f"replace_percent must be between 0 and 1, got {self.replace_percent}")
        if self.num_cache_objects is not None and self.num_cache_objects < 1:
            raise ConfigError(f"num_cache_objects must be at least 1, got {self.num_cache_objects}")

    @property
    def cache_size(self) -> int:
        """Volumes held in the cache."""
        total = len(self.entries)
        return total if self.num_cache_objects is None else min(self.num_cache_objects, total)

    @property
    def smart(self) -> bool:
        """Whether part of the cache is replaced each epoch."""
        return self.cache_size < len(self.entries) and self.replace_percent > 0

    @property
    def replace_count(self) -> int:
        """Volumes replaced per epoch, by MONAI's rule: ⌈cache size × replace_percent⌉, at most those left out."""
        return min(math.ceil(self.cache_size * self.replace_percent), len(self.entries) - self.cache_size)

    def set_random_state(self, seed: int) -> None:
        super().set_random_state(seed)
        self.seed = seed

    def dataset(self) -> CacheDataset:
        """The MONAI cache, filled on first use (`num_workers` threads)."""
        if self.cache is None:
            cached = list(self.head)
            if self.tail and hasattr(self.tail[0], "precompute"):
                cached.append(_Precompute(self.tail[0]))
            options: dict[str, Any] = {
                "data": self.entries,
                "transform": Compose(cached, map_items=False),
                "cache_num": self.cache_size,
                "progress": False,
                # Our transforms return new objects; MONAI's may write in place: then copy the cache.
                "copy_cache": not all(isinstance(t, ClaraTransform) for t in self.tail),
            }
            workers = self.num_workers or None
            if self.smart:
                self.cache = SmartCacheDataset(
                    **options,
                    replace_rate=self.replace_percent,
                    num_init_workers=workers,
                    num_replace_workers=workers,
                    shuffle=bool(self.shuffle),
                    seed=self.seed,
                )
            else:
                self.cache = CacheDataset(**options, num_workers=workers)
        return self.cache

    def set_epoch(self, epoch: int) -> None:
        """Tell epoch-aware transforms; from the second epoch on, replace `replace_count` volumes of a smart cache."""
        if epoch > self.epoch and isinstance(self.cache, SmartCacheDataset):
            self.cache.update_cache()
            self.cache_start = (self.cache_start + self.replace_count) % len(self.entries)
        super().set_epoch(epoch)

    def cached_entries(self) -> list[Sample]:
        """The datalist entries now in the cache (for reports and tests)."""
        data = self.dataset().data  # a smart cache holds the datalist in its own (seeded) order
        return [data[(self.cache_start + i) % len(data)] for i in range(self.cache_size)]

    def volume_count(self) -> int:
        return self.cache_size if self.caches_data else len(self.entries)

    def volumes(self) -> Iterator[Sample]:
        if not self.caches_data:
            yield from super().volumes()
            return
        dataset = self.dataset()
        if isinstance(dataset, SmartCacheDataset):
            dataset.start()
        for index in self.order():
            yield dataset[index]

    def close(self) -> None:
        """Stop the smart cache's replacement thread and drop the cache (a later iteration fills it anew)."""
        if isinstance(self.cache, SmartCacheDataset):
            self.cache.shutdown()
        self.cache = None
        self.cache_start = 0
