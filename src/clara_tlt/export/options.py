"""What an export is asked for: tensor names, precision, shapes, verification, Triton repository."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from clara_tlt.errors import UsageError

PRECISIONS = ("FP32", "FP16")
TRITON_PLATFORMS = ("onnxruntime_onnx", "tensorrt_plan", "pytorch_libtorch")


@dataclass(frozen=True)
class TensorNames:
    """The input and output tensor names in ONNX, TensorRT and Triton (seed 000's `node_mapping` defaults)."""

    input: str = "NV_MODEL_INPUT"
    output: str = "NV_MODEL_OUTPUT"


@dataclass(frozen=True)
class ExportOptions:
    """Everything `export_model` is asked to do besides which checkpoint to export.

    `dynamic`: spatial sizes are dynamic (`--trt_dynamic_mode`), else fixed to the config's ROI; the batch is
    dynamic from 1 to `max_batch_size` either way. `precision` applies to the TensorRT engine only.
    """

    names: TensorNames = TensorNames()
    precision: str = "FP32"
    dynamic: bool = False
    max_batch_size: int = 5
    verify: bool = True
    require_trt: bool = False
    triton_repo: Path | None = None
    triton_platform: str = "onnxruntime_onnx"

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise UsageError(f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")
        if self.max_batch_size < 1:
            raise UsageError(f"max_batch_size must be at least 1, not {self.max_batch_size}")
        if self.triton_platform not in TRITON_PLATFORMS:
            raise UsageError(
                f"triton_platform must be one of {', '.join(TRITON_PLATFORMS)}, not {self.triton_platform!r}"
            )
        if not self.names.input or not self.names.output or self.names.input == self.names.output:
            raise UsageError("input and output node names must be given and differ")
