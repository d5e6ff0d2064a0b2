"""Inferers a config names: whole-volume (`SimpleInferer`) and scanning-window (`ScanWindowInferer`).

Both implement MONAI's `Inferer` call `inferer(inputs, network) -> outputs` and carry a public `labels`
switch: when True they return `(N, 1, *spatial)` class indices instead of `(N, C, *spatial)` scores, and the
scanning-window one then streams its blending so the float scores of the whole volume never exist at once.
Clara 3.x `TF…` names map to them; `TRTISScanWindowInferer` sends the windows to a Triton server.
"""

from __future__ import annotations

from clara_tlt.factory.registry import register
from clara_tlt.inferers.scan_window import ScanWindowInferer
from clara_tlt.inferers.simple import SimpleInferer
from clara_tlt.inferers.triton import TritonScanWindowInferer

register("inferer", "ScanWindowInferer", aliases=("TFScanWindowInferer",))(ScanWindowInferer)
register("inferer", "TRTISScanWindowInferer", built_on="clara_tlt (Triton client + ScanWindowInferer)")(
    TritonScanWindowInferer
)
register("inferer", "SimpleInferer", aliases=("TFSimpleInferer",))(SimpleInferer)

__all__ = ["ScanWindowInferer", "SimpleInferer", "TritonScanWindowInferer"]
