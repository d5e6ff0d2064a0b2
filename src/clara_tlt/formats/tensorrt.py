"""TensorRT: a serialized engine (`.trt`/`.plan`, built for this GPU) run on CUDA tensors."""

from __future__ import annotations

from pathlib import Path

import torch

from clara_tlt.errors import ClaraError, ConfigError
from clara_tlt.formats.runtime import optional_module


class TensorRTNetwork:
    """A TensorRT engine with one input and one output (TensorRT ≥ 10's named-tensor API): tensor in, tensor
    out on the input's device. Needs the `tensorrt` package and a GPU; `quiet` logs TensorRT's errors only."""

    def __init__(self, path: Path, *, device: torch.device, quiet: bool = False) -> None:
        if device.type != "cuda":
            raise ConfigError(
                f"'{path}' is a TensorRT engine, which runs only on a GPU; none is present here"
            )
        tensorrt = optional_module("tensorrt", path)
        level = tensorrt.Logger.ERROR if quiet else tensorrt.Logger.WARNING
        self.runtime = tensorrt.Runtime(tensorrt.Logger(level))  # kept: the engine needs it alive
        self.engine = self.runtime.deserialize_cuda_engine(path.read_bytes())
        if self.engine is None:
            raise ConfigError(
                f"'{path}': TensorRT cannot read this engine (built by another TensorRT or GPU?)"
            )
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        is_input = [self.engine.get_tensor_mode(n) == tensorrt.TensorIOMode.INPUT for n in names]
        self.input_name = next(n for n, i in zip(names, is_input, strict=True) if i)
        self.output_name = next(n for n, i in zip(names, is_input, strict=True) if not i)
        self.device = device

    def __call__(self, inputs: torch.Tensor) -> torch.Tensor:
        image = inputs.detach().float().to(self.device).contiguous()
        self.context.set_input_shape(self.input_name, tuple(image.shape))
        output = torch.empty(tuple(self.context.get_tensor_shape(self.output_name)), device=self.device)
        self.context.set_tensor_address(self.input_name, image.data_ptr())
        self.context.set_tensor_address(self.output_name, output.data_ptr())
        stream = torch.cuda.current_stream(self.device)
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise ClaraError(f"TensorRT could not run its engine on an input {tuple(image.shape)}")
        stream.synchronize()
        return output.to(inputs.device)
