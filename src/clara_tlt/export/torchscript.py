"""TorchScript: the network traced on the example input; runs wherever libtorch does (Triton's
`pytorch_libtorch`, C++, Python without our code)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from clara_tlt.export.protocol import Runner, quiet


class TorchScriptExporter:
    """`NAME.ts`: `torch.jit.trace` of the network (shapes are not frozen: verification checks them)."""

    name = "torchscript"
    suffix = ".ts"

    def export(self, network: nn.Module, example: torch.Tensor, path: Path) -> None:
        with quiet(), torch.no_grad():
            traced = torch.jit.trace(network, example, check_trace=False)
        with path.open(
            "wb"
        ) as handle:  # a file object: a full disk raises the OSError, not a C++ stream error
            torch.jit.save(traced, handle)

    def load(self, path: Path) -> Runner:
        module = torch.jit.load(str(path), map_location="cpu").eval()

        def run(x: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return module(torch.from_numpy(x)).numpy()

        return run
