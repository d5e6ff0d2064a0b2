"""Clara's `TRTISScanWindowInferer`: scanning-window inference whose windows a Triton server computes.

The config names the served model (`model_name`) and the server (`ip`, `port`, `protocol`; Clara Deploy's
`NVIDIA_CLARA_TRTISURI` wins when set). Each batch of windows goes to the server; the network the engine
passes in is not used, as in Clara, where the served model is the model. The server is asked for the model on
the first call, so `--dry-run` needs no server.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from clara_tlt.errors import ConfigError
from clara_tlt.inferers.scan_window import ScanWindowInferer

RAW_OUTPUT = "RAW"  # Clara's `output_type`: the model's raw output tensor, the only kind served here


class TritonScanWindowInferer(ScanWindowInferer):
    """`inferer(inputs (N, C_in, *spatial), network)` → `(N, C_out, *spatial)` scores (or labels), each window
    batch computed by Triton model `model_name`; `roi_size` defaults to the served model's fixed input size.
    The window arguments (`batch_size`, `overlap`, `blend_mode`, …) are `ScanWindowInferer`'s."""

    def __init__(
        self,
        model_name: str,
        ip: str = "localhost",
        port: int | None = None,
        protocol: str = "HTTP",
        output_type: str = RAW_OUTPUT,
        ready_timeout: float = 10.0,
        roi_size: Sequence[int] | int | None = None,
        **base: Any,
    ) -> None:
        if output_type != RAW_OUTPUT:
            raise ConfigError(
                f"output_type {output_type!r} cannot be honoured: Triton models serve 'RAW' output"
            )
        super().__init__(roi_size or 1, **base)
        self.roi_given = roi_size is not None
        self.server = {
            "model_name": model_name,
            "ip": ip,
            "protocol": protocol,
            "ready_timeout": ready_timeout,
        }
        if port is not None:
            self.server["port"] = port
        self.model: Callable[[torch.Tensor], torch.Tensor] | None = None

    def __call__(
        self, inputs: torch.Tensor, network: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> torch.Tensor:
        if self.model is None:
            from clara_tlt.formats.triton import triton_model

            served = triton_model(self.server)
            if not self.roi_given:
                roi = served.window_roi()
                if roi is None:
                    raise ConfigError(
                        f"Triton model '{self.server['model_name']}' takes any input size; give roi_size"
                    )
                self.roi_size = roi
            self.model = served
        return super().__call__(inputs, self.model, *args, **kwargs)

    def close(self) -> None:
        """Close the connection to the server, if one was opened."""
        if self.model is not None and hasattr(self.model, "close"):
            self.model.close()
