"""Image pipelines built from the seed configs' specs: lazy construction, batches, smart cache, seeding."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest
import torch
from PIL import Image

from clara_tlt.data.pipelines import SegmentationImagePipelineWithCache
from clara_tlt.errors import ConfigError, NoInputError
from clara_tlt.factory.registry import build

SEED_CONFIGS = Path(__file__).parents[2] / ".." / "shared" / "seeds" / "configs"


@pytest.fixture(scope="module")
def spleen_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six 20×20×12 CT volumes with a box label each, and a datalist (4 training, 2 validation)."""
    root = tmp_path_factory.mktemp("spleen")
    rng = np.random.default_rng(0)
    entries = []
    for i in range(6):
        image = rng.uniform(-100, 200, (20, 20, 12)).astype(np.float32)
        label = np.zeros((20, 20, 12), np.uint8)
        label[5 + i : 10 + i, 6:12, 3:8] = 1
        nib.save(nib.Nifti1Image(image, np.eye(4)), root / f"img{i}.nii.gz")
        nib.save(nib.Nifti1Image(label, np.eye(4)), root / f"lab{i}.nii.gz")
        entries.append({"image": f"img{i}.nii.gz", "label": f"lab{i}.nii.gz"})
    (root / "datalist.json").write_text(json.dumps({"training": entries[:4], "validation": entries[4:]}))
    return root


def seed_section(name: str, section: str) -> dict[str, Any]:
    return json.loads((SEED_CONFIGS / name).read_text())[section]


def make(section: dict[str, Any], root: Path, crop: int | None = 8, **override: Any) -> Any:
    pre = []
    for i, spec in enumerate(section["pre_transforms"]):
        spec = json.loads(json.dumps(spec))
        if crop and "size" in spec["args"]:
            spec["args"]["size"] = [crop] * 3  # semantics test: 96³ shrunk to 8³
        pre.append(build(spec, "transform", file="config_train.json", key_path=f"pre_transforms[{i}]"))
    spec = json.loads(json.dumps(section["image_pipeline"]))
    spec["args"].update(
        {"data_list_file_path": str(root / "datalist.json"), "data_file_base_dir": str(root), **override}
    )
    if crop and spec["args"].get("output_crop_size", [-1])[0] > 0:
        spec["args"]["output_crop_size"] = [crop] * 3
    return build(
        spec,
        "image_pipeline",
        file="config_train.json",
        key_path="image_pipeline",
        inject={"transforms": pre},
    )


def test_construction_reads_datalist_but_loads_no_image(spleen_data: Path, tmp_path: Path) -> None:
    pipeline = make(seed_section("config_train_spleen.json", "train"), spleen_data)
    assert isinstance(pipeline, SegmentationImagePipelineWithCache)
    assert pipeline.cache is None and len(pipeline.entries) == 4
    broken = tmp_path / "datalist.json"
    broken.write_text(json.dumps({"training": [{"image": "missing.nii.gz", "label": "missing_seg.nii.gz"}]}))
    with pytest.raises(NoInputError, match=r"training\[0\]\.image"):
        make(seed_section("config_train_spleen.json", "train"), spleen_data, data_list_file_path=str(broken))


def test_spleen_training_batches(spleen_data: Path) -> None:
    pipeline = make(seed_section("config_train_spleen.json", "train"), spleen_data)
    pipeline.set_random_state(0)
    pipeline.set_epoch(0)
    batches = list(pipeline)
    assert len(batches) == len(pipeline) == 4  # batched_by_transforms: one volume → 3 crops → one batch
    for batch in batches:
        assert batch["image"].shape == (3, 1, 8, 8, 8) and batch["label"].shape == (3, 1, 8, 8, 8)
        assert batch["image"].dtype == torch.float32 and batch["label"].dtype == torch.uint8
        assert not any(k.endswith("_indices") for k in batch)


@pytest.mark.parametrize("batched_by_transforms", [True, False])
def test_batches_to_gen_at_once_makes_that_many_batches_of_each_volume(
    spleen_data: Path, batched_by_transforms: bool
) -> None:
    section = seed_section("config_train_spleen.json", "train")
    (crop_spec,) = [s for s in section["pre_transforms"] if s["name"] == "FastCropByPosNegRatio"]
    crop_spec["args"]["batches_to_gen_at_once"] = 2
    pipeline = make(
        section, spleen_data, batched_by_transforms=batched_by_transforms, output_batch_size=3, shuffle=False
    )
    pipeline.set_random_state(0)
    batches = list(pipeline)
    assert len(batches) == len(pipeline) == 8  # 4 volumes × 2 batches of the crop's batch_size 3
    assert all(b["image"].shape == (3, 1, 8, 8, 8) for b in batches)
    files = [b["image"].meta["filename_or_obj"][0] for b in batches]
    assert files[0] == files[1] != files[2] == files[3]  # one volume read, two batches made of it


def test_smart_cache_replaces_a_share_each_epoch_and_serves_what_it_reports(spleen_data: Path) -> None:
    pipeline = make(
        seed_section("config_train_spleen.json", "train"),
        spleen_data,
        num_cache_objects=2,
        replace_percent=0.5,
    )
    pipeline.set_random_state(1)
    held: list[set[str]] = []
    try:
        for epoch in range(3):
            pipeline.set_epoch(epoch)
            held.append({e["image"] for e in pipeline.cached_entries()})
            batches = list(pipeline)
            assert len(batches) == len(pipeline) == 2
            assert {name for b in batches for name in b["image"].meta["filename_or_obj"]} == held[-1]
    finally:
        pipeline.close()
    assert len(held[0] & held[1]) == len(held[1] & held[2]) == 1  # half of the 2 slots replaced each epoch


def test_same_seed_same_batches(spleen_data: Path) -> None:
    def run(seed: int) -> list[torch.Tensor]:
        pipeline = make(
            seed_section("config_train_spleen.json", "train"), spleen_data, prefetch_size=2, num_workers=2
        )
        pipeline.set_random_state(seed)
        out = []
        for epoch in range(2):
            pipeline.set_epoch(epoch)
            out += [b["image"] for b in pipeline]
        return out

    a, b, c = run(3), run(3), run(4)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(a, c, strict=True))


def test_spleen_validation_whole_volumes(spleen_data: Path) -> None:
    pipeline = make(seed_section("config_train_spleen.json", "validate"), spleen_data, crop=None)
    batches = list(pipeline)
    assert len(batches) == 2 and batches[0]["image"].shape == (1, 1, 20, 20, 12)
    assert batches[0]["image"].affine.shape == (1, 4, 4)
    assert float(batches[0]["image"].min()) >= 0.0 and float(batches[0]["image"].max()) <= 1.0


def test_classification_pipeline(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    entries = []
    for i in range(3):
        Image.fromarray(rng.integers(2000, 4000, (300, 280)).astype(np.uint16)).save(tmp_path / f"x{i}.png")
        entries.append({"image": f"x{i}.png", "label": [i % 2] * 15})
    (tmp_path / "datalist.json").write_text(json.dumps({"training": entries, "validation": entries}))
    section = seed_section("config_train_chestxray.json", "train")
    pipeline = make(section, tmp_path, crop=None, output_batch_size=2, num_workers=0)
    pipeline.set_random_state(0)
    batches = list(pipeline)
    assert [b["image"].shape for b in batches] == [(2, 256, 256, 3), (1, 256, 256, 3)]  # channels last
    assert batches[0]["label"].shape == (2, 15) and batches[0]["label"].dtype == torch.float32


def test_empty_datalist_list_is_no_input(spleen_data: Path, tmp_path: Path) -> None:
    empty = tmp_path / "datalist.json"
    empty.write_text(json.dumps({"training": [], "validation": []}))
    with pytest.raises(NoInputError, match=rf"{empty}: the list 'training' of the datalist is empty") as info:
        make(seed_section("config_train_spleen.json", "train"), spleen_data, data_list_file_path=str(empty))
    assert info.value.exit_code == 4


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            {"output_batch_size": "3"},
            r"args\.output_batch_size: output_batch_size must be an integer, got '3'",
        ),
        ({"output_crop_size": [8, "8", 8]}, r"output_crop_size must be a list of integers or null"),
        ({"num_cache_object": 2}, r"has no argument 'num_cache_object'; did you mean 'num_cache_objects'"),
        ({"replace_percent": 2}, r"image_pipeline\.args: replace_percent must be between 0 and 1, got 2"),
        ({"output_batch_size": 0}, r"image_pipeline\.args: output_batch_size must be at least 1, got 0"),
    ],
)
def test_pipeline_arguments_are_checked_where_the_config_names_them(
    spleen_data: Path, override: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        make(seed_section("config_train_spleen.json", "train"), spleen_data, crop=None, **override)


def test_classification_pipeline_takes_only_its_own_arguments(tmp_path: Path) -> None:
    (tmp_path / "datalist.json").write_text(json.dumps({"training": [{"image": "x.png", "label": [1]}]}))
    (tmp_path / "x.png").write_bytes(b"")
    section = seed_section("config_train_chestxray.json", "train")
    with pytest.raises(
        ConfigError, match="output_data_format must be one of 'channels_first', 'channels_last'"
    ):
        make(section, tmp_path, crop=None, output_data_format="NHWC")


def test_classification_pipeline_gives_a_grey_png_its_channel_axis(tmp_path: Path) -> None:
    Image.fromarray(np.full((8, 6), 7, dtype=np.uint8)).save(tmp_path / "grey.png")
    (tmp_path / "datalist.json").write_text(
        json.dumps({"training": [{"image": "grey.png", "label": [1, 0]}]})
    )
    loader = build(
        {"name": "LoadPng", "args": {"fields": ["image", "label"]}}, "transform", file="c.json", key_path="t"
    )
    pipeline = build(
        {
            "name": "ClassificationImagePipeline",
            "args": {"data_list_file_path": str(tmp_path / "datalist.json"), "output_crop_size": [6, 8]},
        },
        "image_pipeline",
        file="c.json",
        key_path="train.image_pipeline",
        inject={"transforms": [loader]},
    )
    (batch,) = list(pipeline)
    assert tuple(batch["image"].shape) == (1, 1, 6, 8)  # (N, C, *spatial), channels first by default
