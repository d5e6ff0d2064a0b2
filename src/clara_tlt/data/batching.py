"""Clara 3.1's batch transforms: applied to each whole batch an image pipeline yields (`MergeBatchDims`).

`WithBatchTransforms` stands in for the pipeline it wraps: the same engine API (iterate, `len`, `set_epoch`,
`set_random_state`, `shard`, `close`), each batch passed through the transforms in order.

    pipeline = WithBatchTransforms(pipeline, [merge_batch_dims])
    for batch in pipeline: ...   # batch = merge_batch_dims(original batch)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from clara_tlt.transforms.base import apply_chain, set_random_state

Batch = dict[str, Any]


class WithBatchTransforms:
    """An image pipeline whose batches go through `transforms` (dict in, dict out) before the engine sees them."""

    def __init__(self, pipeline: Any, transforms: Sequence[Callable[[Batch], Batch]]) -> None:
        self.pipeline = pipeline
        self.transforms = list(transforms)

    def __iter__(self) -> Iterator[Batch]:
        for batch in self.pipeline:
            yield apply_chain(self.transforms, batch)

    def __len__(self) -> int:
        return len(self.pipeline)

    def set_epoch(self, epoch: int) -> None:
        self.pipeline.set_epoch(epoch)

    def set_random_state(self, seed: int) -> None:
        self.pipeline.set_random_state(seed)
        set_random_state(self.transforms, seed)

    def shard(self, rank: int, world_size: int, *, pad: bool) -> None:
        self.pipeline.shard(rank, world_size, pad=pad)

    def close(self) -> None:
        self.pipeline.close()
