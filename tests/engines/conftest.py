"""A tiny training MMAR: the seed spleen config with a small MONAI UNet, 16³ crops and 2+2 cases of 32×32×16."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_json

UNET = {
    "name": "UNet",
    "args": {
        "spatial_dims": 3,
        "in_channels": 1,
        "out_channels": 2,
        "channels": [4, 8, 16],
        "strides": [2, 2],
        "num_res_units": 0,
    },
}


def write_validation_mmar(mmar: Path, seed_configs: Path, datalist: Path, **environment: str) -> Path:
    """An MMAR folder with the seed validation config (16³ windows) and an environment.json naming `datalist`
    (models/ and eval/ as Clara's MMARs have them; `environment` adds or replaces variables)."""
    validation = json.loads((seed_configs / "config_validation_spleen.json").read_text())
    validation["inferer"]["args"]["roi_size"] = [16, 16, 16]
    write_json(mmar / "config" / "config_validation.json", validation)
    env = {
        "DATA_ROOT": str(datalist.parent),
        "DATASET_JSON": str(datalist),
        "MMAR_CKPT_DIR": "models",
        "MMAR_EVAL_OUTPUT_PATH": "eval",
    }
    write_json(mmar / "config" / "environment.json", env | environment)
    return mmar


def tiny_train_config(seed_configs: Path, **globals_: Any) -> dict[str, Any]:
    """The seed spleen config with the UNet above (softmax output, as Clara's SegAhnet has), sizes for 32³ data."""
    config = json.loads((seed_configs / "config_train_spleen.json").read_text())
    config.update({"epochs": 3, "num_training_epoch_per_valid": 1, "learning_rate": 0.01, **globals_})
    train, validate = config["train"], config["validate"]
    train["model"] = copy.deepcopy(UNET)  # tests change it; the module's stays as written
    train["loss"] = {"name": "DiceLoss", "args": {"to_onehot_y": True, "softmax": True}}
    train["pre_transforms"][3]["args"].update({"size": [16, 16, 16], "batch_size": 2})
    train["image_pipeline"]["args"].update(
        {"output_crop_size": [16, 16, 16], "output_batch_size": 2, "num_workers": 0}
    )
    validate["image_pipeline"]["args"]["num_workers"] = 0
    validate["inferer"]["args"]["roi_size"] = [16, 16, 16]
    return config


@pytest.fixture(scope="session")
def train_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 training + 2 validation synthetic CT cases (32×32×16) and their datalist.json."""
    from clara_tlt.synthetic.dataset import write_dataset

    return write_dataset(
        tmp_path_factory.mktemp("train_data"), num_training=2, num_validation=2, shape=(32, 32, 16)
    )


@pytest.fixture
def unet_mmar(tmp_path: Path, seed_configs: Path, train_data: Path) -> Path:
    """An MMAR whose config_train.json is `tiny_train_config`; models go to <mmar>/models."""
    mmar = tmp_path / "mmar"
    write_json(mmar / "config" / "config_train.json", tiny_train_config(seed_configs))
    write_json(
        mmar / "config" / "environment.json",
        {
            "DATA_ROOT": str(train_data.parent),
            "DATASET_JSON": str(train_data),
            "PRETRAIN_WEIGHTS_FILE": "",
            "MMAR_CKPT_DIR": "models",
            "PROCESSING_TASK": "segmentation",
        },
    )
    return mmar


def clara_tlt(*args: str, **kwargs: Any) -> subprocess.Popen[str]:
    """`python -m clara_tlt ARGS` in a subprocess (for signals and kill -9), output captured."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "clara_tlt", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        **kwargs,
    )
