"""Checkpoints to export, made without training: a freshly built network saved as `model.pt` with a small
train_conf (the network spec and a validation ROI), as the training engine writes them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from clara_tlt.engines.checkpoint import model_payload, save_checkpoint
from clara_tlt.factory.registry import build
from clara_tlt.learning.networks import ClaraNetwork
from tests.engines.conftest import train_data, unet_mmar  # noqa: F401  (fixtures of the MMAR dialect test)

# `python -m monai.bundle …` in a process where `import clara_tlt` fails: the bundle must not need us.
MONAI_BUNDLE_WITHOUT_CLARA_TLT = (
    "import runpy, sys; sys.modules['clara_tlt'] = None; sys.argv[0] = 'monai.bundle'; "
    "runpy.run_module('monai.bundle', run_name='__main__', alter_sys=True)"
)

AHNET = {"name": "SegAhnet", "args": {"num_classes": 2}}
DENSENET = {"name": "DenseNet121", "args": {"num_classes": 3, "in_channels": 1}}


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """One intra-op thread: on these small inputs two threads on a shared 2-core machine contend more than
    they help (measured: the DenseNet121 export took 24 s with two, 12 s with one)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def train_conf(spec: dict[str, Any], roi: list[int]) -> dict[str, Any]:
    return {"train": {"model": spec}, "validate": {"inferer": {"args": {"roi_size": roi}}}}


def write_checkpoint(folder: Path, spec: dict[str, Any], roi: list[int], name: str = "model") -> Path:
    """`folder/NAME.pt` of a freshly built network of `spec` (one input channel) whose config states `roi`.

    Logits are brought to the ±10 of a trained network by scaling the first convolution (the networks are
    close to positively homogeneous): fresh from its initialiser AHNet gives ±10⁶, whose softmax flips on
    rounding noise and so verifies nothing.
    """
    torch.manual_seed(0)
    network = build(spec, "network", file="test", key_path="model").eval()
    shape = (1, *roi, 1) if getattr(network, "channels_last", False) else (1, 1, *roi)
    first = next(m for m in network.modules() if isinstance(m, nn.Conv1d | nn.Conv2d | nn.Conv3d))
    with torch.no_grad():
        largest = float(logits(network, torch.rand(shape)).abs().max())
        if largest > 100:
            first.weight.mul_(10 / largest)
    payload = model_payload(network, train_conf(spec, roi), epoch=1, metric=None)
    return save_checkpoint(folder / f"{name}.pt", payload)


def logits(network: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The output before Clara's final activation (ClaraNetwork), else the output."""
    if isinstance(network, ClaraNetwork):
        return network.backbone(x.movedim(-1, 1) if network.channels_last else x)
    return network(x)


class BatchFrozen(nn.Module):
    """Eager output scales with the batch size; a trace freezes it at 1, so exports of it differ from PyTorch
    on any batch but the first (a network whose export verification must catch)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv3d(1, 2, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return y * float(int(y.shape[0]))


def run_bundle_without_clara_tlt(bundle: Path, images: Path, output: Path) -> None:
    """The issue's `python -m monai.bundle run --config_file … --meta_file … --bundle_root … --dataset_dir IMAGES
    --output_dir OUTPUT` on `bundle`, in a process where `import clara_tlt` fails; asserts it exits 0."""
    command = [
        *("run", "--config_file", f"{bundle}/configs/inference.json", "--meta_file"),
        *(f"{bundle}/configs/metadata.json", "--bundle_root", str(bundle)),
        *("--dataset_dir", str(images), "--output_dir", str(output)),
    ]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    ran = subprocess.run(
        [sys.executable, "-c", MONAI_BUNDLE_WITHOUT_CLARA_TLT, *command],
        capture_output=True,
        text=True,
        env=env,
        cwd=output.parent,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
