"""Every transform named in the seed configs builds from the seed's own JSON, as written, and runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from monai.data import MetaTensor

from clara_tlt.factory.registry import build
from clara_tlt.transforms import apply_chain, set_random_state

LISTS = ("pre_transforms", "post_transforms", "label_transforms")


def seed_lists(folder: Path) -> list[tuple[str, str, list[dict[str, Any]]]]:
    found = []
    for file in sorted(folder.glob("*.json")):
        config = json.loads(file.read_text())
        for section in ("", "train", "validate"):
            body = config if section == "" else config.get(section, {})
            for name in LISTS:
                if name in body:
                    found.append((file.name, f"{section}.{name}".lstrip("."), body[name]))
    return found


def build_list(file: str, key_path: str, specs: list[dict[str, Any]]) -> list[Any]:
    return [build(spec, "transform", file=file, key_path=f"{key_path}[{i}]") for i, spec in enumerate(specs)]


def test_every_seed_transform_builds(seed_configs: Path) -> None:
    lists = seed_lists(seed_configs)
    names = {spec["name"] for _, _, specs in lists for spec in specs}
    assert len(lists) == 9
    assert {"LoadNifti", "FastCropByPosNegRatio", "RestoreOriginalShape", "CenterData", "LoadPng"} <= names
    for file, key_path, specs in lists:
        built = build_list(file, key_path, specs)
        assert all(callable(t) for t in built)


def _images(sample: dict[str, Any]) -> list[MetaTensor]:
    return [v for v in sample.values() if isinstance(v, MetaTensor)]


def test_spleen_training_chain_as_written(seed_configs: Path, volume_files: dict[str, str]) -> None:
    config = json.loads((seed_configs / "config_train_spleen.json").read_text())
    chain = build_list("config_train_spleen.json", "train.pre_transforms", config["train"]["pre_transforms"])
    set_random_state(chain, 0)
    crops = apply_chain(chain, dict(volume_files))
    assert isinstance(crops, list) and len(crops) == 3  # batch_size 3
    for crop in crops:
        image, label = crop["image"], crop["label"]
        assert image.shape == label.shape == (1, 96, 96, 96)  # the 24×24×16 volume, zero-padded to 96³
        assert image.dtype == torch.float32 and label.dtype == torch.uint8
        assert float(image.min()) >= 0.0 and float(image.max()) <= 1.1  # 0..1 then ±10 % oscillation
        assert set(torch.unique(label).tolist()) <= {0, 1}
        assert torch.allclose(
            image.affine[:3, :3], torch.diag(torch.tensor([1.5, 1.5, 2.0], dtype=torch.float64))
        )
        assert not any(k.endswith("_indices") for k in crop)


def test_spleen_validation_chains(seed_configs: Path, volume_files: dict[str, str]) -> None:
    config = json.loads((seed_configs / "config_validation_spleen.json").read_text())
    pre = build_list("v", "pre_transforms", config["pre_transforms"])
    post = build_list("v", "post_transforms", config["post_transforms"])
    labels = build_list("v", "label_transforms", config["label_transforms"])
    sample = apply_chain(pre, {"image": volume_files["image"]})
    assert sample["image"].shape == (1, 24, 24, 16)
    scores = torch.zeros((2, 24, 24, 16))
    scores[1, :12] = 1.0  # class 1 wins on the first half
    sample["model"] = MetaTensor(scores)  # a network output carries no affine
    sample = apply_chain(post, sample)
    assert sample["model"].shape == (1, 24, 24, 16) and sample["model"].dtype == torch.uint8
    assert int(sample["pred_class1"].sum()) == 12 * 24 * 16
    assert torch.equal(sample["pred_class0"] + sample["pred_class1"], torch.ones_like(sample["pred_class0"]))
    for key in ("model", "pred_class0", "pred_class1"):
        assert torch.equal(sample[key].affine, sample["image"].affine)
    truth = apply_chain(labels, {"label": volume_files["label"]})
    assert int(truth["label_class1"].sum()) == 6 * 6 * 4
    assert int(truth["label_class0"].sum()) == 24 * 24 * 16 - 6 * 6 * 4


def test_aiaa_chains_restore_original_grid(seed_configs: Path, volume_files: dict[str, str]) -> None:
    config = json.loads((seed_configs / "config_aiaa_spleen.json").read_text())
    pre = build_list("a", "pre_transforms", config["pre_transforms"])
    post = build_list("a", "post_transforms", config["post_transforms"])
    sample = apply_chain(pre, {"image": volume_files["image"]})
    image = sample["image"]
    assert image.shape == (1, 36, 36, 32)  # 1.5, 1.5, 2 mm → 1 mm
    assert torch.allclose(torch.linalg.norm(image.affine[:3, :3], dim=0), torch.ones(3, dtype=torch.float64))
    assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0
    truth = apply_chain(pre[:3], {"image": volume_files["label"]})["image"]  # the label on the 1 mm grid
    sample["model"] = MetaTensor(torch.cat([1.0 - truth.float(), truth.float()]))
    sample = apply_chain(post, sample)
    model = sample["model"]
    original = apply_chain(pre[:2], {"image": volume_files["label"]})["image"]
    assert model.shape == (1, 24, 24, 16) and model.dtype == torch.uint8
    assert torch.allclose(model.affine, original.affine)
    assert torch.equal(model, original)  # the 1.5×/2× nearest up- then down-sampling is lossless here
    points = sample["points"]
    assert len(points) == 6 and all(len(p) == 3 for p in points)


@pytest.mark.parametrize("section", ["train", "validate"])
def test_chestxray_chains(seed_configs: Path, png_file: str, section: str) -> None:
    config = json.loads((seed_configs / "config_train_chestxray.json").read_text())
    chain = build_list("c", f"{section}.pre_transforms", config[section]["pre_transforms"])
    set_random_state(chain, 3)
    sample = apply_chain(chain, {"image": png_file, "label": [0, 1] + [0] * 13})
    image = sample["image"]
    assert image.shape == (256, 256, 3) and image.dtype == torch.float32  # channels last, 3 channels
    assert torch.equal(image[..., 0], image[..., 2])
    centred = (torch.tensor([2000.0, 3999.0]) - 2876.37) / 883
    assert float(image.max()) <= float(centred[1]) + 1e-3
    assert float(image.min()) >= min(float(centred[0]), 0.0 - 2876.37 / 883) - 1e-3  # rotation corners are 0
