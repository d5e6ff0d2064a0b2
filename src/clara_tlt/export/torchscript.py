"""TorchScript: the network traced on the example input; runs wherever libtorch does (Triton's
`pytorch_libtorch`, C++, Python without our code)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from clara_tlt.export.protocol import Runner, quiet, runner_of
from clara_tlt.formats.torchscript import load_torchscript


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
        return runner_of(load_torchscript(path, device=torch.device("cpu")))
