"""Clara inferer names: simple (whole volume) and scanning-window inference, on MONAI's inferers."""

from __future__ import annotations

from collections.abc import Sequence

from monai.inferers import SimpleInferer, SlidingWindowInferer

from clara_tlt.components import register


@register("inferer", "TFScanWindowInferer", aliases=("ScanWindowInferer",))
def scan_window(
    roi_size: Sequence[int], batch_size: int = 1, overlap: float = 0.25, blend_mode: str = "constant"
) -> SlidingWindowInferer:
    """Windows of `roi_size` slid over `(N, C, H, W, D)` inputs, `batch_size` windows per forward pass,
    `overlap` between neighbours, blended by `blend_mode` (`constant` averages, `gaussian` weights centres)."""
    return SlidingWindowInferer(
        roi_size=list(roi_size), sw_batch_size=batch_size, overlap=overlap, mode=blend_mode
    )


@register("inferer", "TFSimpleInferer", aliases=("SimpleInferer",))
def simple() -> SimpleInferer:
    """The whole input in one forward pass."""
    return SimpleInferer()
