"""How the windows blend: weighted sums kept slab by slab, each slab normalised and handed on once it is final.

A slab's float buffers exist only while some window still to come may touch it. Where a finished slab goes is the
target's business: `ScoreTarget` keeps the blended scores (its slabs are views of the whole output, so nothing is
copied), `LabelTarget` keeps only their argmax and lets the float slab go.
"""

from __future__ import annotations

from typing import Protocol

import torch

from clara_tlt.inferers.placement import WindowPlan


class Target(Protocol):
    """Where finished slabs go. `buffer` gives a zeroed `(C, *spatial[:-1], slab length)` float buffer."""

    def buffer(self, slab: slice, channels: int) -> torch.Tensor: ...

    def finish(self, slab: slice, scores: torch.Tensor) -> None: ...


class ScoreTarget:
    """Plain mode: `scores` `(C, *padded spatial)`, zeroed, is the output; slabs are views of it."""

    def __init__(self, scores: torch.Tensor) -> None:
        self.scores = scores

    def buffer(self, slab: slice, channels: int) -> torch.Tensor:
        return self.scores[..., slab]

    def finish(self, slab: slice, scores: torch.Tensor) -> None:
        """Nothing to do: the slab was normalised in place inside `self.scores`."""


class LabelTarget:
    """Label mode: `labels` `(1, *padded spatial)` receives the argmax over channels of each finished slab;
    the slab buffers are `score_dtype` tensors on the labels' device, dropped once finished."""

    def __init__(self, labels: torch.Tensor, score_dtype: torch.dtype) -> None:
        self.labels = labels
        self.score_dtype = score_dtype

    def buffer(self, slab: slice, channels: int) -> torch.Tensor:
        shape = (channels, *self.labels.shape[1:-1], slab.stop - slab.start)
        return torch.zeros(shape, dtype=self.score_dtype, device=self.labels.device)

    def finish(self, slab: slice, scores: torch.Tensor) -> None:
        self.labels[0, ..., slab] = scores.argmax(dim=0)


class SlabBlender:
    """Weighted average of window outputs over one padded image, released slab by slab.

    `importance`: the `(*roi_size)` window weights on the blend device, or None for equal weights.
    Call `add` for each window in the plan's order, then `finish_before(start of the next window)`, and
    `finish_all()` at the end.
    """

    def __init__(self, plan: WindowPlan, target: Target, importance: torch.Tensor | None) -> None:
        self.plan = plan
        self.target = target
        self.importance = importance
        self.open: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def add(self, window: tuple[slice, ...], scores: torch.Tensor) -> None:
        """Blend one window's `scores` `(C, *roi_size)` into the slabs it covers."""
        start = window[-1].start
        for index in self.plan.slabs_of(window):
            slab = self.plan.slab(index)
            piece = slice(slab.start - start, slab.stop - start)
            total, weight = self._open_slab(index, channels=scores.shape[0])
            region = (slice(None), *window[:-1])
            if self.importance is None:
                total[region] += scores[..., piece]
                weight[region] += 1
            else:
                weights = self.importance[..., piece]
                total[region].addcmul_(scores[..., piece], weights)
                weight[region] += weights

    def finish_before(self, position: int) -> None:
        """Normalise and hand on every open slab that ends at or before `position` on the last axis."""
        for index in sorted(self.open):
            if self.plan.boundaries[index + 1] <= position:
                self._finish(index)

    def finish_all(self) -> None:
        for index in sorted(self.open):
            self._finish(index)

    def _open_slab(self, index: int, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
        if index not in self.open:
            total = self.target.buffer(self.plan.slab(index), channels)
            weight = torch.zeros((1, *total.shape[1:]), dtype=total.dtype, device=total.device)
            self.open[index] = (total, weight)
        return self.open[index]

    def _finish(self, index: int) -> None:
        total, weight = self.open.pop(index)
        total /= weight
        self.target.finish(self.plan.slab(index), total)
