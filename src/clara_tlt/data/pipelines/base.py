"""What every image pipeline shares: the options a config gives, the datalist, the engine's API, batching.

The pipelines are keyword-only dataclasses: each option is written once, as a field, and a subclass adds its
own fields to those it inherits. The constructor's signature (what `build` checks config arguments against,
for did-you-mean and type messages) is generated from the fields.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from monai.data import ThreadBuffer, list_data_collate
from monai.transforms import RandomizableTrait, Transform

from clara_tlt.data.datalist import load_datalist, shard_entries
from clara_tlt.errors import ConfigError, NoInputError
from clara_tlt.learning.data_format import channel_axis, refuse_channels_last
from clara_tlt.transforms.base import MAX_SEED, apply_chain, set_random_state, unwrap_transform_error

Sample = dict[str, Any]


def split_transforms(transforms: Sequence[Callable[..., Any]]) -> tuple[list[Any], list[Any]]:
    """(deterministic head, rest): the head ends before the first random or non-MONAI transform."""
    for index, transform in enumerate(transforms):
        if isinstance(transform, RandomizableTrait) or not isinstance(transform, Transform):
            return list(transforms[:index]), list(transforms[index:])
    return list(transforms), []


@dataclass(eq=False, kw_only=True)
class ImagePipeline:
    """Datalist entries → deterministic head → random tail → batches of `output_batch_size` samples.

    `data_list_key` names the list of `data_list_file_path` to read (paths relative to `data_file_base_dir`,
    else to the datalist's folder). `shuffle` defaults to True for the "training" list only. `num_workers`
    threads compute the deterministic head; `prefetch_size` batches are prepared ahead in a background thread.
    `duplicate_count`: each entry is read that many times per epoch. `batched_by_transforms`: a transform
    (a crop) yields the whole batch from one volume (one volume per batch). `output_image_channels`: the
    channels each image must have (checked, a clear error otherwise). `output_data_format`: the layout of the
    batches; `channels_last` only where the pipeline supports it (classification).
    `multiprocessing` (Clara's Keras pipelines: worker processes rather than threads): accepted either way;
    here the workers are always `num_workers` threads, since the heavy steps (decoding, resampling in
    NumPy/PyTorch) release the GIL and threads share the cache without copying volumes between processes.
    Constructing reads and checks the datalist only; no image is loaded before the first iteration.
    """

    channels_last_ok: ClassVar[bool] = False

    data_list_file_path: str
    data_file_base_dir: str | None = None
    data_list_key: str = "training"
    output_crop_size: Sequence[int] | None = None
    output_batch_size: int = 1
    num_workers: int = 0
    prefetch_size: int = 0
    shuffle: bool | None = None
    duplicate_count: int = 1
    batched_by_transforms: bool = False
    output_image_channels: int | None = None
    output_data_format: str = "channels_first"
    multiprocessing: bool = False
    transforms: Sequence[Callable[..., Any]] = field(default=(), repr=False)
    entries: list[Sample] = field(init=False, repr=False)
    head: list[Any] = field(init=False, repr=False)
    tail: list[Any] = field(init=False, repr=False)
    order_rng: np.random.RandomState = field(init=False, repr=False)
    epoch: int = field(default=0, init=False)
    label_classes: int | None = field(default=None, init=False)  # the network's, set by build_workflow

    def __post_init__(self) -> None:
        for name, least in (
            ("output_batch_size", 1),
            ("num_workers", 0),
            ("prefetch_size", 0),
            ("duplicate_count", 1),
        ):
            if getattr(self, name) < least:
                raise ConfigError(f"{name} must be at least {least}, got {getattr(self, name)}")
        self.check_data_format()
        self.entries = load_datalist(
            self.data_list_file_path, self.data_list_key, base_dir=self.data_file_base_dir
        )
        if not self.entries:
            raise NoInputError(
                f"{self.data_list_file_path}: the list '{self.data_list_key}' of the datalist is empty; add "
                "entries to it or choose another list with data_list_key / DATA_LIST_KEY"
            )
        if self.shuffle is None:
            self.shuffle = self.data_list_key == "training"
        if self.output_crop_size is not None:
            self.output_crop_size = list(self.output_crop_size)
        self.transforms = list(self.transforms)
        self.head, self.tail = split_transforms(self.transforms)
        self.order_rng = np.random.RandomState()

    def check_data_format(self) -> None:
        """`output_data_format` is a known layout, and `channels_last` only where the pipeline supports it."""
        channel_axis(self.output_data_format, key="output_data_format")
        if not self.channels_last_ok:
            refuse_channels_last(self.output_data_format, key="output_data_format", by=type(self).__name__)

    # -- the engine's API -------------------------------------------------------------------------------------
    def set_random_state(self, seed: int) -> None:
        """Seed the shuffling and every random transform: the same seed gives the same batches."""
        self.order_rng = np.random.RandomState(seed % MAX_SEED)
        set_random_state(self.transforms, seed)

    def set_epoch(self, epoch: int) -> None:
        """Start epoch `epoch`: epoch-aware transforms (CropSubVolumePosNegRatioCtrlEpoch) are told."""
        self.epoch = epoch
        for transform in self.transforms:
            if hasattr(transform, "set_epoch"):
                transform.set_epoch(epoch)

    def __len__(self) -> int:
        """Batches per epoch (the last may be smaller)."""
        volumes = self.volume_count() * self.duplicate_count
        if self.one_volume_per_batch():
            return volumes * self.batches_per_volume()
        return math.ceil(volumes * self.samples_per_volume() / self.output_batch_size)

    def __iter__(self) -> Iterator[Sample]:
        """The batches of one epoch. An error in a transform stops the epoch as the transform raised it (not
        MONAI's `applying transform` wrapper), from the prefetch thread too (MONAI's ThreadBuffer drops it)."""
        try:
            if self.prefetch_size > 0:
                source = _Reiterable(self.batches())
                yield from ThreadBuffer(source, buffer_size=self.prefetch_size, timeout=0.1)
                if source.error is not None:
                    raise source.error
            else:
                yield from self.batches()
        except RuntimeError as error:
            cause = unwrap_transform_error(error)
            if cause is error:
                raise
            raise cause from None

    def shard(self, rank: int, world_size: int, *, pad: bool) -> None:
        """Keep rank `rank`'s share of the datalist (torchrun); call before the first iteration.

        `pad` makes every rank's share equally long (training: each rank runs the same number of iterations).
        """
        self.entries = shard_entries(self.entries, rank, world_size, pad=pad)

    def close(self) -> None:
        """Release background threads and caches (the cached pipeline has them)."""

    # -- what subclasses change -------------------------------------------------------------------------------
    def one_volume_per_batch(self) -> bool:
        """Whether each batch holds the samples of one volume (a transform yields the whole batch)."""
        return self.batched_by_transforms

    def finish(self, sample: Sample) -> Sample:
        """One sample from the random tail → its output form (size, layout); as it is here."""
        return sample

    def volume_count(self) -> int:
        """Volumes per epoch."""
        return len(self.entries)

    def volumes(self) -> Iterator[Sample]:
        """The deterministic head of each volume of this epoch, in the epoch's order."""
        return self.heads(self.order())

    # -- batching ---------------------------------------------------------------------------------------------
    def samples_per_volume(self) -> int:
        """Samples the random tail makes of one volume (a crop's `batch_size` or `num_samples`, times its
        `batches_to_gen_at_once`)."""
        count = 1
        for transform in self.tail:
            count *= int(getattr(transform, "batch_size", None) or getattr(transform, "num_samples", 1) or 1)
        return count * self.batches_per_volume()

    def batches_per_volume(self) -> int:
        """Batches a transform makes of one volume at once (Clara's `batches_to_gen_at_once`), else 1."""
        count = 1
        for transform in self.tail:
            count *= int(getattr(transform, "batches_to_gen_at_once", 1))
        return count

    def order(self) -> list[int]:
        """The volume indices of this epoch, each `duplicate_count` times: shuffled by the seeded generator when
        `shuffle`."""
        order = list(range(self.volume_count())) * self.duplicate_count
        if self.shuffle:
            self.order_rng.shuffle(order)
        return order

    def heads(self, order: list[int]) -> Iterator[Sample]:
        """The deterministic head of each entry in `order`, computed `num_workers` at a time (in order)."""
        if self.num_workers <= 1:
            for index in order:
                yield apply_chain(self.head, dict(self.entries[index]))
            return
        with ThreadPoolExecutor(self.num_workers) as pool:
            yield from pool.map(lambda i: apply_chain(self.head, dict(self.entries[i])), order)

    def batches(self) -> Iterator[Sample]:
        """Run the random tail over each volume; batches stack samples (tensors gain a leading `N` axis)."""
        pending: list[Sample] = []
        for volume in self.volumes():
            result = apply_chain(self.tail, volume)
            samples = [self.finish(s) for s in (result if isinstance(result, list) else [result])]
            if self.one_volume_per_batch():
                per_batch = len(samples) // self.batches_per_volume()
                for start in range(0, len(samples), per_batch):
                    yield list_data_collate(samples[start : start + per_batch])
                continue
            pending.extend(samples)
            while len(pending) >= self.output_batch_size:
                yield list_data_collate(pending[: self.output_batch_size])
                pending = pending[self.output_batch_size :]
        if pending:
            yield list_data_collate(pending)


def check_channels(what: str, value: Any, *, axis: int, wanted: int | None) -> None:
    """Raise ConfigError when `value` (a sample's array) has other than `wanted` channels on `axis`."""
    if wanted is None or value is None or not hasattr(value, "shape"):
        return
    channels = int(value.shape[axis])
    if channels != wanted:
        raise ConfigError(
            f"{what} has {channels} channel(s), not output_{what}_channels {wanted}: correct "
            f"output_{what}_channels, or the transforms that make the {what}'s channels"
        )


class _Reiterable:
    """An iterator that ThreadBuffer may iterate once; what it raises is kept in `error` for the consumer (the
    thread would otherwise die with it, and the epoch end early without a word)."""

    def __init__(self, iterator: Iterator[Sample]) -> None:
        self.iterator = iterator
        self.error: Exception | None = None

    def __iter__(self) -> Iterator[Sample]:
        try:
            yield from self.iterator
        except Exception as error:
            self.error = error
