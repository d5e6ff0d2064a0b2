"""Peak bytes of the label-streaming inferer's open blend buffers, against the floor the window grid sets.

Counts every float cell buffer `clara_tlt.inferers.blending.LabelTarget` hands out until `CellBlender` finishes
it, over the scanning-window benchmark's case (256×256×160, roi 96³, overlap 0.25, 8 classes, 2 windows per
forward), and prints the overlap band over the image's smallest cross-section: some moment of any visiting order
holds at least that band open, as float32 scores of every class (what keeps the labels equal to MONAI's argmax
of its blended scores). Issue 25's label memory target; docs/performance.md.

    .venv/bin/python benchmarks/label_buffers.py
"""

from __future__ import annotations

import argparse
from typing import Any

import torch

from clara_tlt.inferers import ScanWindowInferer, blending

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

        blending.LabelTarget.buffer, blending.CellBlender._finish = buffer, finish  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        blending.LabelTarget.buffer, blending.CellBlender._finish = self.buffer, self.finish  # type: ignore[method-assign]


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


if __name__ == "__main__":
    main()
