"""Clara's image pipelines (seed 004): a datalist and the section's pre-transforms → batches for an engine.

The API an engine uses::

    pipeline = build(spec, "image_pipeline", ..., inject={"transforms": pre_transforms})   # reads the datalist only
    pipeline.set_random_state(seed)          # with `determinism`: same seed → same batches
    for epoch in range(epochs):
        pipeline.set_epoch(epoch)            # shuffles, tells epoch-aware transforms, refreshes the smart cache
        for batch in pipeline:               # dicts of batched tensors: batch["image"] is (N, C, *spatial)
            ...
    pipeline.close()

Transforms are split where the first random one stands: the deterministic head (loading, channels, intensity
range) runs in `num_workers` threads, and is cached by the `WithCache` pipeline (MONAI CacheDataset or, with
fewer cache slots than volumes, SmartCacheDataset replacing `replace_percent` of them each epoch); the random
tail runs in list order in one thread, so seeded runs repeat exactly. `prefetch_size` batches are prepared
ahead in a background thread (MONAI ThreadBuffer).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch
from monai.data import CacheDataset, MetaTensor, SmartCacheDataset, ThreadBuffer, list_data_collate
from monai.transforms import Compose, RandomizableTrait, Transform

from clara_tlt.components import register
from clara_tlt.data.datalist import load_datalist
from clara_tlt.transforms.base import (
    ClaraTransform,
    apply_chain,
    channel_dim,
    set_random_state,
    spatial_shape,
)
from clara_tlt.transforms.crop import crop, fitted_start

Sample = dict[str, Any]


def split_transforms(transforms: Sequence[Callable[..., Any]]) -> tuple[list[Any], list[Any]]:
    """(deterministic head, rest): the head ends before the first random or non-MONAI transform."""
    for index, transform in enumerate(transforms):
        if isinstance(transform, RandomizableTrait) or not isinstance(transform, Transform):
            return list(transforms[:index]), list(transforms[index:])
    return list(transforms), []


class _Precompute(ClaraTransform):
    """The deterministic part of the first random transform (e.g. crop indices), run inside the cache."""

    def __init__(self, transform: Any) -> None:
        self.transform = transform

    def __call__(self, data: Sample) -> Sample:
        return self.transform.precompute(data)


class ImagePipeline:
    """Datalist entries → deterministic head → random tail → batches of `output_batch_size` samples.

    `batched_by_transforms`: a crop transform yields the whole batch from one volume (one volume per batch).
    `output_crop_size`: fields are padded/centre-cropped to this spatial size (−1: keep the axis).
    Constructing reads and checks the datalist only; no image is loaded before the first iteration.
    """

    def __init__(
        self,
        data_list_file_path: str,
        data_file_base_dir: str | None = None,
        data_list_key: str = "training",
        output_crop_size: Sequence[int] | None = None,
        output_batch_size: int = 1,
        batched_by_transforms: bool = False,
        num_workers: int = 0,
        prefetch_size: int = 0,
        shuffle: bool | None = None,
        transforms: Sequence[Callable[..., Any]] = (),
        image_fields: Sequence[str] = ("image", "label"),
    ) -> None:
        self.entries = load_datalist(data_list_file_path, data_list_key, base_dir=data_file_base_dir)
        if not self.entries:
            raise ValueError(f"the datalist list '{data_list_key}' of {data_list_file_path} is empty")
        self.data_list_key = data_list_key
        self.output_batch_size = max(1, int(output_batch_size))
        self.batched_by_transforms = batched_by_transforms
        self.num_workers = max(0, int(num_workers))
        self.prefetch_size = max(0, int(prefetch_size))
        self.shuffle = data_list_key == "training" if shuffle is None else shuffle
        self.output_crop_size = [int(s) for s in output_crop_size] if output_crop_size else None
        self.image_fields = tuple(image_fields)
        self.transforms = list(transforms)
        self.head, self.tail = split_transforms(self.transforms)
        self.epoch = 0
        self._order_rng = np.random.RandomState()

    # -- the engine's API -------------------------------------------------------------------------------------
    def set_random_state(self, seed: int) -> None:
        """Seed the shuffling and every random transform: the same seed gives the same batches."""
        self._order_rng = np.random.RandomState(seed % (2**32 - 1))
        set_random_state(self.transforms, seed)

    def set_epoch(self, epoch: int) -> None:
        """Start epoch `epoch`: epoch-aware transforms (CropSubVolumePosNegRatioCtrlEpoch) are told."""
        self.epoch = epoch
        for transform in self.transforms:
            if hasattr(transform, "set_epoch"):
                transform.set_epoch(epoch)

    def __len__(self) -> int:
        """Batches per epoch (the last may be smaller)."""
        volumes = self._volume_count()
        if self.batched_by_transforms:
            return volumes
        return math.ceil(volumes * self.samples_per_volume() / self.output_batch_size)

    def __iter__(self) -> Iterator[Sample]:
        batches = self._batches()
        if self.prefetch_size > 0:
            yield from ThreadBuffer(_Reiterable(batches), buffer_size=self.prefetch_size, timeout=0.1)
        else:
            yield from batches

    def close(self) -> None:
        """Release background threads (smart cache)."""

    # -- internals --------------------------------------------------------------------------------------------
    def samples_per_volume(self) -> int:
        count = 1
        for transform in self.tail:
            count *= int(getattr(transform, "batch_size", None) or getattr(transform, "num_samples", 1) or 1)
        return count

    def _volume_count(self) -> int:
        return len(self.entries)

    def _order(self) -> list[int]:
        order = list(range(self._volume_count()))
        if self.shuffle:
            self._order_rng.shuffle(order)
        return order

    def _heads(self, order: list[int]) -> Iterator[Sample]:
        """The deterministic head of each entry in `order`, computed `num_workers` at a time (in order)."""
        if self.num_workers <= 1:
            for index in order:
                yield apply_chain(self.head, dict(self.entries[index]))
            return
        with ThreadPoolExecutor(self.num_workers) as pool:
            yield from pool.map(lambda i: apply_chain(self.head, dict(self.entries[i])), order)

    def _volumes(self) -> Iterator[Sample]:
        yield from self._heads(self._order())

    def _batches(self) -> Iterator[Sample]:
        pending: list[Sample] = []
        for volume in self._volumes():
            result = apply_chain(self.tail, volume)
            samples = [self._finish(s) for s in (result if isinstance(result, list) else [result])]
            if self.batched_by_transforms:
                yield self.collate(samples)
                continue
            pending.extend(samples)
            while len(pending) >= self.output_batch_size:
                yield self.collate(pending[: self.output_batch_size])
                pending = pending[self.output_batch_size :]
        if pending:
            yield self.collate(pending)

    def _finish(self, sample: Sample) -> Sample:
        """Bring image fields to `output_crop_size` (zero pad / centre crop)."""
        if not self.output_crop_size or all(s <= 0 for s in self.output_crop_size):
            return sample
        out = dict(sample)
        for key in self.image_fields:
            value = out.get(key)
            if isinstance(value, MetaTensor) and len(spatial_shape(value)) == len(self.output_crop_size):
                shape = spatial_shape(value)
                size = [d if s <= 0 else s for s, d in zip(self.output_crop_size, shape, strict=True)]
                if list(shape) != size:
                    out[key] = crop(value, fitted_start([d // 2 for d in shape], size, shape), size)
        return out

    @staticmethod
    def collate(samples: list[Sample]) -> Sample:
        """Stack samples into a batch: tensors gain a leading batch axis, other values become lists."""
        return list_data_collate(samples)


class _Reiterable:
    """An iterator that ThreadBuffer may iterate once."""

    def __init__(self, iterator: Iterator[Sample]) -> None:
        self.iterator = iterator

    def __iter__(self) -> Iterator[Sample]:
        return self.iterator


@register("image_pipeline", "SegmentationImagePipeline")
class SegmentationImagePipeline(ImagePipeline):
    """Segmentation batches: `image` `(N, C, *spatial)` float32, `label` `(N, 1, *spatial)`, no caching.

    MONAI: `Dataset(datalist, Compose(transforms))` + `DataLoader(batch_size, collate_fn=list_data_collate)`.
    """


@register("image_pipeline", "SegmentationImagePipelineWithCache")
class SegmentationImagePipelineWithCache(ImagePipeline):
    """Like `SegmentationImagePipeline`, with the deterministic head cached in memory on first iteration.

    `num_cache_objects` volumes are cached; when that is fewer than the datalist holds, `replace_percent` of
    them are replaced by unseen volumes at each `set_epoch` (smart cache, MONAI SmartCacheDataset).
    The first random transform's deterministic part (foreground indices of a crop) is cached too.
    """

    def __init__(
        self,
        data_list_file_path: str,
        data_file_base_dir: str | None = None,
        data_list_key: str = "training",
        output_crop_size: Sequence[int] | None = None,
        output_batch_size: int = 1,
        batched_by_transforms: bool = False,
        num_workers: int = 0,
        prefetch_size: int = 0,
        num_cache_objects: int | None = None,
        replace_percent: float = 0.1,
        shuffle: bool | None = None,
        transforms: Sequence[Callable[..., Any]] = (),
        image_fields: Sequence[str] = ("image", "label"),
    ) -> None:
        super().__init__(
            data_list_file_path,
            data_file_base_dir,
            data_list_key,
            output_crop_size,
            output_batch_size,
            batched_by_transforms,
            num_workers,
            prefetch_size,
            shuffle,
            transforms,
            image_fields,
        )
        self.num_cache_objects = min(int(num_cache_objects or len(self.entries)), len(self.entries))
        if not 0.0 <= replace_percent <= 1.0:
            raise ValueError("replace_percent must be between 0 and 1")
        self.replace_percent = float(replace_percent)
        self._seed = 0
        self._dataset: CacheDataset | None = None
        cached = list(self.head)
        if self.tail and hasattr(self.tail[0], "precompute"):
            cached.append(_Precompute(self.tail[0]))
        self._cached_chain = Compose(cached, map_items=False)
        # Our transforms return new objects; other (MONAI) transforms may write in place: then copy the cache.
        self._copy_cache = not all(isinstance(t, ClaraTransform) for t in self.tail)

    @property
    def smart(self) -> bool:
        return self.num_cache_objects < len(self.entries) and self.replace_percent > 0

    def set_random_state(self, seed: int) -> None:
        super().set_random_state(seed)
        self._seed = seed

    def dataset(self) -> CacheDataset:
        """The MONAI cache, filled on first use (`num_workers` threads)."""
        if self._dataset is None:
            workers = self.num_workers or None
            if self.smart:
                self._dataset = SmartCacheDataset(
                    self.entries,
                    self._cached_chain,
                    replace_rate=self.replace_percent,
                    cache_num=self.num_cache_objects,
                    num_init_workers=workers,
                    num_replace_workers=workers,
                    progress=False,
                    shuffle=self.shuffle,
                    seed=self._seed,
                    copy_cache=self._copy_cache,
                )
            else:
                self._dataset = CacheDataset(
                    self.entries,
                    self._cached_chain,
                    cache_num=self.num_cache_objects,
                    num_workers=workers,
                    progress=False,
                    copy_cache=self._copy_cache,
                )
        return self._dataset

    def set_epoch(self, epoch: int) -> None:
        """Tell epoch-aware transforms; from the second epoch on, swap `replace_percent` of the smart cache."""
        if epoch > self.epoch and self.smart:
            dataset = self.dataset()
            assert isinstance(dataset, SmartCacheDataset)
            dataset.update_cache()
        super().set_epoch(epoch)

    def cached_entries(self) -> list[Sample]:
        """The datalist entries now in the cache (for reports and tests)."""
        dataset = self.dataset()
        if isinstance(dataset, SmartCacheDataset):
            start = dataset._start_pos
            data = dataset.data
            return [data[(start + i) % len(data)] for i in range(self.num_cache_objects)]
        return list(self.entries[: self.num_cache_objects])

    def _volume_count(self) -> int:
        return self.num_cache_objects

    def _volumes(self) -> Iterator[Sample]:
        dataset = self.dataset()
        if isinstance(dataset, SmartCacheDataset) and not dataset.is_started():
            dataset.start()
        for index in self._order():
            yield dataset[index]

    def close(self) -> None:
        if isinstance(self._dataset, SmartCacheDataset):
            self._dataset.shutdown()


@register("image_pipeline", "ClassificationImagePipeline")
class ClassificationImagePipeline(ImagePipeline):
    """Classification batches: `image` `(N, H, W, C)` (channels last) or `(N, C, H, W)`, `label` `(N, K)` float.

    Each sample must come out of the transforms with spatial size `output_crop_size` and
    `output_image_channels` channels; the layout is converted to `output_data_format` where needed.
    MONAI: `Dataset` + `DataLoader`; `EnsureChannelFirstd`/`Transposed` for the layout.
    """

    def __init__(
        self,
        data_list_file_path: str,
        data_file_base_dir: str | None = None,
        data_list_key: str = "training",
        output_crop_size: Sequence[int] | None = None,
        output_data_format: str = "channels_first",
        output_batch_size: int = 1,
        output_image_channels: int | None = None,
        num_workers: int = 0,
        prefetch_size: int = 0,
        shuffle: bool | None = None,
        transforms: Sequence[Callable[..., Any]] = (),
    ) -> None:
        super().__init__(
            data_list_file_path,
            data_file_base_dir,
            data_list_key,
            None,
            output_batch_size,
            False,
            num_workers,
            prefetch_size,
            shuffle,
            transforms,
            ("image",),
        )
        if output_data_format not in ("channels_first", "channels_last"):
            raise ValueError("output_data_format must be 'channels_first' or 'channels_last'")
        self.output_data_format = output_data_format
        self.crop_size = [int(s) for s in output_crop_size] if output_crop_size else None
        self.output_image_channels = output_image_channels

    def _finish(self, sample: Sample) -> Sample:
        image = sample["image"]
        if not isinstance(image, MetaTensor):
            raise TypeError(
                "ClassificationImagePipeline: 'image' must be loaded by the transforms (add LoadPng)"
            )
        layout = channel_dim(image)
        if layout is None:
            image = image.unsqueeze(0 if self.output_data_format == "channels_first" else -1)
            layout = 0 if self.output_data_format == "channels_first" else -1
        shape = spatial_shape(image)
        if self.crop_size and list(shape) != self.crop_size:
            raise ValueError(
                f"image has spatial size {list(shape)}, not output_crop_size {self.crop_size}: add ScaleToShape"
            )
        channels = image.shape[layout]
        if self.output_image_channels and channels != self.output_image_channels:
            raise ValueError(
                f"image has {channels} channels, not output_image_channels {self.output_image_channels}"
            )
        wanted = 0 if self.output_data_format == "channels_first" else -1
        if layout != wanted:
            image = image.movedim(layout, wanted)
        image.meta["channel_dim"] = wanted
        out = {**sample, "image": image}
        if "label" in out and not isinstance(out["label"], torch.Tensor):
            out["label"] = torch.as_tensor(np.asarray(out["label"], dtype=np.float32))
        return out
