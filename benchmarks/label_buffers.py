"""Peak bytes of the label-streaming inferer's open blend buffers, against the floor the window grid sets.

Counts every float cell buffer `clara_tlt.inferers.blending.LabelTarget` hands out until `CellBlender` finishes
it, over the scanning-window benchmark's case (256×256×160, roi 96³, overlap 0.25, 8 classes, 2 windows per
forward), and prints the overlap band over the image's smallest cross-section: some moment of any visiting order
holds at least that band open, as float32 scores of every class (what keeps the labels equal to MONAI's argmax
of its blended scores), and the peak other visiting orders and cell cuts would hold (counted, not run).
Issue 25's label memory target; docs/performance.md.

    .venv/bin/python benchmarks/label_buffers.py
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

from clara_tlt.inferers import ScanWindowInferer, blending, placement

MIB = 2**20


class OpenBytes:
    """Wraps the label target's `buffer` and the blender's `_finish` to count the float bytes held open."""

    def __init__(self) -> None:
        self.now = self.peak = 0
        self.buffer, self.finish = blending.LabelTarget.buffer, blending.CellBlender._finish

    def __enter__(self) -> OpenBytes:
        counter = self

        def buffer(target: Any, region: Any, channels: int) -> torch.Tensor:
            made = counter.buffer(target, region, channels)
            counter.now += made.numel() * made.element_size()
            counter.peak = max(counter.peak, counter.now)
            return made

        def finish(blender: Any, cell: Any) -> None:
            total = blender.open[cell][0]
            counter.now -= total.numel() * total.element_size()
            counter.finish(blender, cell)

        blending.LabelTarget.buffer, blending.CellBlender._finish = buffer, finish
        return self

    def __exit__(self, *exc: object) -> None:
        blending.LabelTarget.buffer, blending.CellBlender._finish = self.buffer, self.finish


Order = Callable[[placement.Region], tuple[int, ...]]


def held_open(windows: Sequence[placement.Region], roi: int, cut: Sequence[int], classes: int) -> float:
    """Peak MiB of float cells open when `windows` are blended in their order, cells cut on the axes `cut`."""
    shape = tuple(max(w[axis].stop for w in windows) for axis in range(3))
    starts = [sorted({w[axis].start for w in windows}) for axis in range(3)]
    bounds = tuple(
        tuple(sorted({x for s in starts[a] for x in (s, s + roi)})) if a in cut else (0, shape[a])
        for a in range(3)
    )
    last = {cell: i for i, w in enumerate(windows) for cell, _, _ in placement.cells_of(bounds, w)}
    size = {cell: math.prod(s.stop - s.start for s in placement.cell_region(bounds, cell)) for cell in last}
    opened: set[placement.Cell] = set()
    now = peak = 0
    for i, window in enumerate(windows):
        for cell, _, _ in placement.cells_of(bounds, window):
            if cell not in opened:
                opened.add(cell)
                now += size[cell]
        peak = max(peak, now)
        now -= sum(size[cell] for cell, j in last.items() if j == i)
    return peak * classes * 4 / MIB


def other_orders(plan: placement.WindowPlan, roi: int, classes: int) -> dict[str, float]:
    """The peak of the plan's own order and of the alternatives, with cells cut on two or on all three axes."""
    windows = plan.windows
    axes = placement.outer_axes(windows)
    outer = sorted({w[axes[0]].start for w in windows})
    rows = {start: i for i, start in enumerate(outer)}
    if len(outer) > 2 and outer[-1] - outer[-2] < outer[1] - outer[0]:  # joined as `visiting_order` joins it
        rows[outer[-1]] = rows[outer[-2]]
    first, second, third = axes
    orders: dict[str, Order] = {
        "rows, then the second axis, the third, the row axis": lambda w: (
            rows[w[first].start],
            w[second].start,
            w[third].start,
            w[first].start,
        ),
        "rows, then the third axis, the second, the row axis": lambda w: (
            rows[w[first].start],
            w[third].start,
            w[second].start,
            w[first].start,
        ),
    }
    found = {
        f"this plan's order, cells cut on {c} axes": held_open(windows, roi, axes[:c], classes)
        for c in (2, 3)
    }
    for name, key in orders.items():
        for c in (2, 3):
            found[f"{name}, cells cut on {c} axes"] = held_open(
                sorted(windows, key=key), roi, axes[:c], classes
            )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=(256, 256, 160))
    parser.add_argument("--roi", type=int, default=96)
    parser.add_argument("--classes", type=int, default=8)
    args = parser.parse_args()
    torch.manual_seed(0)
    volume = torch.randn(1, 1, *args.shape)
    network = torch.nn.Conv3d(1, args.classes, 3, padding=1).eval()
    inferer = ScanWindowInferer((args.roi,) * 3, batch_size=2, overlap=0.25, labels=True)
    with OpenBytes() as counted, torch.inference_mode():
        inferer(volume, network)
    band = args.roi - int(args.roi * 0.75)
    smallest = sorted(args.shape)[:2]
    bound = band * smallest[0] * smallest[1] * args.classes * 4
    print(f"open float blend buffers, peak: {counted.peak / MIB:.1f} MiB")
    print(
        f"overlap band over the smallest cross-section (a lower bound for any order): {bound / MIB:.1f} MiB"
    )
    plan = placement.plan_windows(args.shape, args.roi, 0.25, cut=True)
    for name, mib in other_orders(plan, args.roi, args.classes).items():
        print(f"  counted, {name}: {mib:.1f} MiB")


if __name__ == "__main__":
    main()
