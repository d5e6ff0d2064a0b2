"""ONNX: a `.onnx` file run by onnxruntime, tensor in, tensor out."""

from __future__ import annotations

from pathlib import Path

import torch

from clara_tlt.formats.runtime import optional_module

ERRORS_ONLY = 3  # onnxruntime's log severity: errors and worse


class OnnxNetwork:
    """An ONNX file run by onnxruntime (CUDA provider on a GPU device when present): tensor in, tensor out.

    The first input takes `(N, C_in, *spatial)` float32; the first output is returned on the input's device.
    `quiet` keeps onnxruntime's warnings off the console (export's verification).
    """

    def __init__(self, path: Path, *, device: torch.device, quiet: bool = False) -> None:
        onnxruntime = optional_module("onnxruntime", path)
        providers = ["CPUExecutionProvider"]
        if device.type == "cuda" and "CUDAExecutionProvider" in onnxruntime.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        options = onnxruntime.SessionOptions()
        if quiet:
            options.log_severity_level = ERRORS_ONLY
        self.session = onnxruntime.InferenceSession(str(path), options, providers=providers)
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, inputs: torch.Tensor) -> torch.Tensor:
        array = inputs.detach().float().cpu().numpy()
        output = self.session.run(None, {self.input_name: array})[0]
        return torch.from_numpy(output).to(inputs.device)
