"""TensorRT: an engine built from the exported ONNX file with the `tensorrt` Python API (optional import).

Engines are built on, and for, the GPU they will run on; where `tensorrt` or a CUDA GPU is missing the step is
skipped with one line that says what to install.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
from torch import nn

from clara_tlt.errors import ClaraError
from clara_tlt.export.options import TensorNames
from clara_tlt.export.protocol import Runner, runner_of
from clara_tlt.export.shapes import ExportShape
from clara_tlt.formats.tensorrt import TensorRTNetwork

WORKSPACE_BYTES = 4 << 30


def tensorrt_missing() -> str | None:
    """Why a TensorRT engine cannot be built here, or None when it can."""
    if importlib.util.find_spec("tensorrt") is None:
        return "TensorRT is not installed: `pip install tensorrt` (NVIDIA GPU and driver needed); see docs/export.md"
    if not torch.cuda.is_available():
        return "no CUDA GPU is visible: TensorRT engines are built on, and for, the GPU that runs them"
    return None


class TensorRTExporter:
    """`NAME.trt`: a serialized engine from `onnx_path`, FP32 or FP16, one optimisation profile over
    batch 1 … max_batch_size and the spatial range of `shape` (`ExportShape.profile`)."""

    name = "tensorrt"
    suffix = ".trt"

    def __init__(self, *, onnx_path: Path, shape: ExportShape, names: TensorNames, fp16: bool) -> None:
        self.onnx_path = onnx_path
        self.shape = shape
        self.names = names
        self.fp16 = fp16

    def export(self, network: nn.Module, example: torch.Tensor, path: Path) -> None:
        """Build from the ONNX file (`network` and `example` are already in it)."""
        import tensorrt as trt

        logger = trt.Logger(trt.Logger.ERROR)
        builder = trt.Builder(logger)
        explicit = getattr(
            trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH", None
        )  # TensorRT < 10 needs it
        definition = builder.create_network(0 if explicit is None else 1 << int(explicit))
        parser = trt.OnnxParser(definition, logger)
        if not parser.parse_from_file(str(self.onnx_path)):
            problems = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise ClaraError(f"TensorRT cannot parse the ONNX model: {problems}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
        if self.fp16:
            config.set_flag(trt.BuilderFlag.FP16)
        profile = builder.create_optimization_profile()
        profile.set_shape(self.names.input, *self.shape.profile())
        config.add_optimization_profile(profile)
        engine = builder.build_serialized_network(definition, config)
        if engine is None:
            raise ClaraError("TensorRT could not build an engine from the ONNX model (run with --debug)")
        path.write_bytes(bytes(engine))

    def load(self, path: Path) -> Runner:
        return runner_of(TensorRTNetwork(path, device=torch.device("cuda"), quiet=True))
