"""A threshold network saved as a checkpoint, CT volumes with a bright cube, and the seed's AIAA config."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from clara_tlt.engines.checkpoint import model_payload, save_checkpoint
from clara_tlt.io import write_array
from tests.conftest import write_json

# A 1×1×1 convolution whose class 1 wins where the scaled intensity is above 0.5 (HU 53.5 after the seed's
# ScaleIntensityRange): its labels are known exactly, so written files can be checked voxel by voxel.
NETWORK = {"name": "Conv3d", "args": {"in_channels": 1, "out_channels": 2, "kernel_size": 1}}
SHAPE = (32, 32, 16)
SPACING = (1.5, 1.5, 2.0)


def threshold_network() -> torch.nn.Module:
    network = torch.nn.Conv3d(1, 2, kernel_size=1)
    with torch.no_grad():
        network.weight.copy_(torch.tensor([-1.0, 1.0]).view(2, 1, 1, 1, 1))
        network.bias.copy_(torch.tensor([0.5, -0.5]))
    return network.eval()


def cube_mask(offset: int = 0) -> np.ndarray:
    mask = np.zeros(SHAPE, dtype=bool)
    mask[8 + offset : 20 + offset, 10:24, 4:12] = True
    return mask


def ct_affine() -> np.ndarray:
    affine = np.diag([*SPACING, 1.0])
    affine[:3, 3] = (-20.0, 10.0, 5.0)
    return affine


def write_ct(path: Path, mask: np.ndarray) -> Path:
    """A CT volume `(x, y, z)`: 0 HU with 150 HU where `mask` is set (the cube), 0.5 HU steps of noise."""
    noise = np.random.default_rng(0).integers(-10, 10, SHAPE).astype(np.float32)
    return write_array(np.where(mask, 150.0, 0.0).astype(np.float32) + noise, ct_affine(), path)


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    """`models/model.pt` of the threshold network, with the train_conf that names it."""
    train_conf = {
        "train": {"model": NETWORK},
        "validate": {"inferer": {"name": "ScanWindowInferer", "args": {"roi_size": [16, 16, 16]}}},
    }
    payload = model_payload(threshold_network(), train_conf, epoch=1, metric=None)
    path = tmp_path / "models" / "model.pt"
    path.parent.mkdir(parents=True)
    return save_checkpoint(path, payload)


@pytest.fixture
def ct_folder(tmp_path: Path) -> Path:
    """Two volumes: `ct_a.nii.gz` and `ct_b.mhd` (cube moved by 4 voxels)."""
    folder = tmp_path / "input"
    folder.mkdir()
    write_ct(folder / "ct_a.nii.gz", cube_mask())
    write_ct(folder / "ct_b.mhd", cube_mask(4))
    return folder


@pytest.fixture
def aiaa_config(tmp_path: Path, seed_configs: Path) -> Path:
    """The seed's spleen `config_aiaa.json` with 16³ windows, in `<tmp>/mmar/config/`."""
    config = json.loads((seed_configs / "config_aiaa_spleen.json").read_text())
    config["inference"]["args"]["roi"] = [16, 16, 16]
    return write_json(tmp_path / "mmar" / "config" / "config_aiaa.json", config)
