"""Tiny synthetic images on disk for the transform tests (≤ 32³ volumes, a 40×36 PNG)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

SEED_CONFIGS = Path(__file__).parents[2] / ".." / "shared" / "seeds" / "configs"
AFFINE = np.array([[1.5, 0, 0, -10.0], [0, 1.5, 0, 5.0], [0, 0, 2.0, 3.0], [0, 0, 0, 1]])


@pytest.fixture(scope="session")
def seed_configs() -> Path:
    if not SEED_CONFIGS.is_dir():
        pytest.fail(
            f"seed configs not found at {SEED_CONFIGS.resolve()}: clone the repo with ../shared beside it"
        )
    return SEED_CONFIGS


@pytest.fixture(scope="session")
def volume_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A 24×24×16 CT-like image (−200..300 HU) and a uint8 label with a 6×6×4 box of 1 inside."""
    folder = tmp_path_factory.mktemp("volumes")
    rng = np.random.default_rng(0)
    image = rng.uniform(-200, 300, size=(24, 24, 16)).astype(np.float32)
    label = np.zeros((24, 24, 16), np.uint8)
    label[9:15, 8:14, 6:10] = 1
    nib.save(nib.Nifti1Image(image, AFFINE), folder / "ct.nii.gz")
    nib.save(nib.Nifti1Image(label, AFFINE), folder / "ct_seg.nii.gz")
    return {"image": str(folder / "ct.nii.gz"), "label": str(folder / "ct_seg.nii.gz")}


@pytest.fixture(scope="session")
def png_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A 16-bit grey 40 (wide) × 36 (high) PNG with values 2000..3999."""
    folder = tmp_path_factory.mktemp("png")
    array = (2000 + np.arange(36 * 40).reshape(36, 40) % 2000).astype(np.uint16)
    Image.fromarray(array).save(folder / "xray.png")
    return str(folder / "xray.png")
