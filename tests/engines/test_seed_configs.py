"""Both seed-004 training configs train as written; only sizes too big for a test change, with --set."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import write_json
from tests.test_cli import invoke_streams


def make_mmar(root: Path, config: Path, environment: dict[str, str]) -> Path:
    mmar = root / "mmar"
    (mmar / "config").mkdir(parents=True)
    shutil.copy(config, mmar / "config" / "config_train.json")
    write_json(mmar / "config" / "environment.json", {"MMAR_CKPT_DIR": "models", **environment})
    return mmar


def train_as_written(mmar: Path, *sets: str) -> dict:
    code, stdout, stderr = invoke_streams(
        "train", "-m", str(mmar), "-c", "config/config_train.json", "--json", "--set", *sets
    )
    assert code == 0, stderr
    return json.loads(stdout)


def test_spleen_config_trains_its_segahnet(tmp_path: Path, seed_configs: Path) -> None:
    from clara_tlt.synthetic.dataset import write_dataset

    datalist = write_dataset(tmp_path / "data", num_training=1, num_validation=1, shape=(32, 32, 32))
    mmar = make_mmar(
        tmp_path,
        seed_configs / "config_train_spleen.json",
        {"DATA_ROOT": str(datalist.parent), "DATASET_JSON": str(datalist), "PRETRAIN_WEIGHTS_FILE": ""},
    )
    summary = train_as_written(
        mmar,
        "epochs=1",
        "train.pre_transforms.3.args.size=[32,32,32]",
        "train.pre_transforms.3.args.batch_size=2",
        "train.image_pipeline.args.output_crop_size=[32,32,32]",
        "train.image_pipeline.args.output_batch_size=2",
        "validate.inferer.args.roi_size=[32,32,32]",
    )
    assert summary["epochs"] == 1 and summary["iterations"] == 1
    assert 0.0 <= summary["best_metric"] <= 1.0 and summary["key_metric"] == "mean_dice"
    saved = torch.load(mmar / "models" / "model.pt", weights_only=True)
    assert saved["train_conf"]["train"]["model"]["name"] == "SegAhnet"
    assert any(k.startswith("backbone.") for k in saved["model"])


@pytest.fixture
def chest_xrays(tmp_path: Path) -> Path:
    """Six 16-bit 64×64 PNGs with 15 binary labels each; in validation every class has a positive and a negative."""
    rng = np.random.default_rng(0)
    entries = []
    for index in range(6):
        image = rng.integers(1500, 4200, (64, 64)).astype(np.uint16)
        Image.fromarray(image).save(tmp_path / f"cxr{index}.png")
        labels = [(index + k) % 2 for k in range(15)]
        entries.append({"image": f"cxr{index}.png", "label": labels})
    return write_json(tmp_path / "datalist.json", {"training": entries[:4], "validation": entries[4:]})


def test_chestxray_config_trains_its_densenet_on_16_bit_pngs(
    tmp_path: Path, seed_configs: Path, chest_xrays: Path
) -> None:
    mmar = make_mmar(
        tmp_path,
        seed_configs / "config_train_chestxray.json",
        {"DATA_ROOT": str(chest_xrays.parent), "DATASET_JSON": str(chest_xrays), "PRETRAIN_WEIGHTS_FILE": ""},
    )
    summary = train_as_written(
        mmar,
        "epochs=1",
        "train.pre_transforms.2.args.target_shape=[32,32]",
        "validate.pre_transforms.1.args.target_shape=[32,32]",
        "train.image_pipeline.args.output_crop_size=[32,32]",
        "validate.image_pipeline.args.output_crop_size=[32,32]",
        "train.image_pipeline.args.output_batch_size=2",
        "validate.image_pipeline.args.output_batch_size=2",
    )
    assert summary["iterations"] == 2  # 4 images in batches of 2
    metrics = summary["final_metrics"]
    assert summary["key_metric"] == "Average_AUC" and len(metrics) == 17  # accuracy, average AUC, 15 classes
    assert 0.0 <= metrics["mean_accuracy"] <= 1.0
    assert metrics["Average_AUC"] == pytest.approx(np.mean([metrics[k] for k in list(metrics)[2:]]))
