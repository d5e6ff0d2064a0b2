"""How the windows blend: weighted sums kept cell by cell, each cell normalised and handed on once it is final.

A cell's float buffer exists only from the first window that covers it to the last. Where a finished cell goes
is the target's business: `ScoreTarget` keeps the blended scores (its cells are views of the whole output, so
nothing is copied), `LabelTarget` keeps only their argmax and lets the float buffer go.
"""

from __future__ import annotations

from typing import Protocol

import torch

from clara_tlt.inferers.placement import Cell, Region, WindowPlan


class Target(Protocol):
    """Where finished cells go. `buffer` gives a zeroed `(C, *region size)` float buffer for a region."""

    def buffer(self, region: Region, channels: int) -> torch.Tensor: ...

    def finish(self, region: Region, scores: torch.Tensor) -> None: ...


class ScoreTarget:
    """Plain mode: `scores` `(C, *padded spatial)`, zeroed, is the output; cells are views of it."""

    def __init__(self, scores: torch.Tensor) -> None:
        self.scores = scores

    def buffer(self, region: Region, channels: int) -> torch.Tensor:
        return self.scores[(slice(None), *region)]

    def finish(self, region: Region, scores: torch.Tensor) -> None:
        """Nothing to do: the cell was normalised in place inside `self.scores`."""


class LabelTarget:
    """Label mode: `labels` `(1, *padded spatial)` receives the argmax over channels of each finished cell;
    the cell buffers are `score_dtype` tensors on the labels' device, dropped once finished."""

    def __init__(self, labels: torch.Tensor, score_dtype: torch.dtype) -> None:
        self.labels = labels
        self.score_dtype = score_dtype

    def buffer(self, region: Region, channels: int) -> torch.Tensor:
        shape = (channels, *(r.stop - r.start for r in region))
        return torch.zeros(shape, dtype=self.score_dtype, device=self.labels.device)

    def finish(self, region: Region, scores: torch.Tensor) -> None:
        argmax_channels(scores, out=self.labels[0][region])


def argmax_channels(scores: torch.Tensor, *, out: torch.Tensor) -> None:
    """`out[...] = scores.argmax(dim=0)` for `scores` `(C, ...)`, exactly: the first maximum wins, a NaN counts
    as the maximum.

    A running maximum over the channels written straight into `out` (uint8 or int16): channel `c` takes a
    voxel where it beats every earlier channel, and `max(label, c · beats)` writes that without a masked fill
    (labels so far are all below `c`). On CPU several times faster than `torch.argmax` over the outermost
    axis, and it never holds int64 indices.
    """
    if scores.shape[0] == 1:
        out.zero_()
        return
    torch.gt(scores[1], scores[0], out=out)
    best = torch.maximum(scores[0], scores[1])
    beats = torch.empty_like(out)
    for channel in range(2, scores.shape[0]):
        torch.gt(scores[channel], best, out=beats)
        torch.maximum(out, beats.mul_(channel), out=out)
        torch.maximum(best, scores[channel], out=best)
    # `maximum` carries NaN into `best`, and a NaN makes the sum NaN (so can ±inf; either way torch decides).
    if torch.isnan(best.sum()):
        out.copy_(scores.argmax(dim=0))


class CellBlender:
    """Weighted average of window outputs over one padded image, released cell by cell.

    `importance`: the `(*roi_size)` window weights on the blend device, or None for equal weights (then a
    voxel's normaliser is the number of windows covering it, from the plan's per-axis counts, and no weight
    buffer is kept). Call `add` for every window of the plan, in order; each cell is normalised and handed to
    the target after its last window.
    """

    def __init__(self, plan: WindowPlan, target: Target, importance: torch.Tensor | None) -> None:
        self.plan = plan
        self.target = target
        self.importance = importance
        self.open: dict[Cell, tuple[torch.Tensor, torch.Tensor | None]] = {}

    def add(self, index: int, scores: torch.Tensor) -> None:
        """Blend the scores `(C, *roi_size)` of window `index`, then finish the cells it was the last to cover."""
        for cell, in_cell, in_window in self.plan.cells_of(self.plan.windows[index]):
            if cell not in self.open:
                total = self.target.buffer(self.plan.cell(cell), channels=scores.shape[0])
                weight = None
                if self.importance is not None:
                    weight = torch.zeros((1, *total.shape[1:]), dtype=total.dtype, device=total.device)
                self.open[cell] = (total, weight)
            total, weight = self.open[cell]
            piece = scores[(slice(None), *in_window)]
            if self.importance is None or weight is None:
                total[(slice(None), *in_cell)] += piece
            else:
                total[(slice(None), *in_cell)].addcmul_(piece, self.importance[in_window])
                weight[(slice(None), *in_cell)] += self.importance[in_window]
        for cell in self.plan.releases[index]:
            self._finish(cell)

    def _finish(self, cell: Cell) -> None:
        total, weight = self.open.pop(cell)
        region = self.plan.cell(cell)
        total /= self._coverage(region, like=total) if weight is None else weight
        self.target.finish(region, total)

    def _coverage(self, region: Region, like: torch.Tensor) -> torch.Tensor:
        """`(1, *region size)`: how many windows cover each voxel of `region` (exact small integers)."""
        coverage = torch.ones((1,) * like.ndim, dtype=like.dtype, device=like.device)
        for axis, part in enumerate(region):
            shape = [1] * like.ndim
            shape[axis + 1] = part.stop - part.start
            counts = torch.tensor(self.plan.counts[axis][part], dtype=like.dtype, device=like.device)
            coverage = coverage * counts.reshape(shape)
        return coverage
