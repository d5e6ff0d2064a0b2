"""TorchScript: a `.ts` file read by libtorch, on the device the caller runs it on."""

from __future__ import annotations

from pathlib import Path

import torch


def load_torchscript(path: Path, *, device: torch.device) -> torch.jit.ScriptModule:
    """The TorchScript module at `path` on `device`, in eval mode."""
    return torch.jit.load(str(path), map_location=device).eval()
