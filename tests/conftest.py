"""Shared fixtures: the seeds' configs (../shared beside the repo), a tiny synthetic dataset, an MMAR."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SEED_CONFIGS = REPO.parent / "shared" / "seeds" / "configs"


@pytest.fixture(scope="session")
def seed_configs() -> Path:
    """The folder holding the seeds' JSON configs; the suite needs ../shared beside the repo, as CI has it."""
    if not SEED_CONFIGS.is_dir():
        pytest.fail(f"seed configs not found at {SEED_CONFIGS}: clone the repo with ../shared beside it")
    return SEED_CONFIGS


@pytest.fixture(scope="session")
def synthetic_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2+1 case synthetic dataset (32×32×16 voxels); returns its datalist.json."""
    from clara_tlt.synthetic.dataset import write_dataset

    return write_dataset(
        tmp_path_factory.mktemp("data"), num_training=2, num_validation=1, shape=(32, 32, 16)
    )


def write_json(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
    return path


@pytest.fixture
def spleen_mmar(tmp_path: Path, seed_configs: Path, synthetic_dataset: Path) -> Path:
    """An MMAR holding the seed-004 spleen config as written, an environment.json, and the synthetic data."""
    mmar = tmp_path / "mmar"
    (mmar / "config").mkdir(parents=True)
    shutil.copy(seed_configs / "config_train_spleen.json", mmar / "config" / "config_train.json")
    shutil.copy(seed_configs / "config_validation_spleen.json", mmar / "config" / "config_validation.json")
    write_json(
        mmar / "config" / "environment.json",
        {
            "DATA_ROOT": str(synthetic_dataset.parent),
            "DATASET_JSON": str(synthetic_dataset),
            "PRETRAIN_WEIGHTS_FILE": "",
            "MMAR_CKPT_DIR": "models",
            "MMAR_EVAL_OUTPUT_PATH": "eval",
            "PROCESSING_TASK": "segmentation",
        },
    )
    return mmar
