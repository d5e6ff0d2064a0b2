"""Clara 3.x configs as users wrote them (the style of NVIDIA's 3.x example MMARs, written anew here) build
with `--dry-run` and train one epoch, validation included, on the tiny example data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.conftest import write_json
from tests.engines.conftest import train_data, unet_mmar  # noqa: F401 (fixtures)
from tests.test_cli import invoke

DATALIST = {"data_list_file_path": "{DATASET_JSON}", "data_file_base_dir": "{DATA_ROOT}"}
CROP = [16, 16, 16]


def fields(*names: str) -> dict[str, Any]:
    return {"fields": list(names)}


def loading() -> list[dict[str, Any]]:
    """Load, channels first, resample image and label apart (instances), window the CT."""
    return [
        {"name": "LoadNifti", "args": fields("image", "label")},
        {"name": "ConvertToChannelsFirst", "args": fields("image", "label")},
        {"name": "ScaleByResolution#Img", "args": {**fields("image"), "target_resolution": [1.5, 1.5, 2.0]}},
        {
            "name": "ScaleByResolution#Lbl",
            "args": {**fields("label"), "is_label": True, "target_resolution": [1.5, 1.5, 2.0]},
        },
        {
            "name": "ScaleIntensityRange",
            "args": {"fields": "image", "a_min": -57, "a_max": 164, "b_min": 0.0, "b_max": 1.0, "clip": True},
        },
    ]


def validate_section(pipeline: str) -> dict[str, Any]:
    return {
        "metrics": [
            {
                "name": "ComputeAverageDice",
                "args": {
                    "name": "val_dice",
                    "is_key_metric": True,
                    "field": "model",
                    "label_field": "label",
                    "do_summary": True,
                },
            },
            {
                "name": "ComputeAverage",
                "args": {"name": "val_dice_tc", "field": "dice_tc", "do_summary": False, "do_print": False},
            },
        ],
        "aux_ops": [{"name": "DiceMaskedOutput", "args": {"skip_background": True, "tags": ["dice_tc"]}}],
        "pre_transforms": [
            {"ref": "LoadNifti"},
            {"ref": "ConvertToChannelsFirst"},
            {"ref": "Img"},
            {"ref": "Lbl"},
            {"ref": "ScaleIntensityRange"},
        ],
        "image_pipeline": {
            "name": pipeline,
            "args": {
                **DATALIST,
                "data_list_key": "validation",
                "output_crop_size": [-1, -1, -1],
                "output_batch_size": 1,
                "num_workers": 0,
                "prefetch_size": 0,
                "multiprocessing": False,
            },
        },
        "inferer": {"name": "TFScanWindowInferer", "args": {"roi_size": CROP, "batch_size": 1}},
    }


def unet_cached_config() -> dict[str, Any]:
    """Unet with Clara's width strings and batch norm, cached pipeline, batches generated several at a time."""
    pre = [
        *loading(),
        {
            "name": "FastCropByPosNegRatio",
            "args": {
                "size": CROP,
                "fields": "image",
                "label_field": "label",
                "pos": 1,
                "neg": 1,
                "batch_size": 2,
                "batches_to_gen_at_once": 2,
            },
        },
        {
            "name": "ScaleIntensityOscillation",
            "args": {"fields": "image", "magnitude": 0.1, "probability": 0.5},
        },
        {"name": "AddGaussianNoise", "args": {"fields": "image", "probability": 0.1}},
    ]
    return {
        "epochs": 1,
        "num_training_epoch_per_valid": 1,
        "learning_rate": 1e-3,
        "multi_gpu": False,
        "use_amp": False,
        "dynamic_input_shape": False,
        "train": {
            "loss": {"name": "Dice", "args": {"skip_background": False}},
            "optimizer": {"name": "NovoGrad"},
            "lr_policy": {"name": "ReduceCosine", "args": {"rate": 0.01}},
            "model": {
                "name": "Unet",
                "args": {
                    "num_classes": 2,
                    "nf_enc": "4,8",
                    "nf_dec": "8,4,4",
                    "use_batch_norm": True,
                    "use_group_norm": False,
                },
            },
            "pre_transforms": pre,
            "batch_transforms": [{"name": "MergeBatchDims", "args": fields("image", "label")}],
            "handlers": [{"name": "StatsHandler"}],
            "image_pipeline": {
                "name": "SegmentationKerasImagePipelineWithCache",
                "args": {
                    **DATALIST,
                    "data_list_key": "training",
                    "output_crop_size": CROP,
                    "output_batch_size": 2,
                    "batched_by_transforms": False,
                    "num_workers": 0,
                    "prefetch_size": 0,
                    "num_cache_objects": 2,
                    "replace_percent": 0,
                    "multiprocessing": False,
                },
            },
        },
        "validate": validate_section("SegmentationImagePipelineWithCache"),
    }


def segresnet_automl_config() -> dict[str, Any]:
    """SegResnet (narrow, grouped, with its VAE branch), AutoML search keys left in, Clara 3.x augmentations,
    a combined loss."""
    pre = [
        *loading(),
        {"name": "NormalizeNonzeroIntensities", "args": fields("image")},
        {"name": "CropFixedSizeRandomCenter", "args": {**fields("image", "label"), "size": CROP}},
        {"name": "RandomSpatialFlip", "disabled": False, "args": fields("image", "label")},
        {
            "name": "ScaleShiftIntensity",
            "args": {"fields": "image", "scale": 0.1, "shift": 0.1},
            "search": [{"type": "float", "args": ["scale"], "targets": [0.0, 0.2], "domain": "transform"}],
        },
        {
            "name": "RandomZoom",
            "disabled": True,
            "args": {
                "image_field": "image",
                "label_field": "label",
                "lower_limits": [0.9] * 3,
                "upper_limits": [1.1] * 3,
            },
        },
    ]
    return {
        "epochs": 1,
        "num_training_epoch_per_valid": 1,
        "learning_rate": 1e-3,
        "search": [{"domain": "lr", "args": ["learning_rate"], "type": "float", "targets": [1e-4, 1e-3]}],
        "train": {
            "loss": {"name": "FocalDice", "args": {"skip_background": True}},
            "optimizer": {"name": "Adam", "args": {"use_locking": False}},
            "lr_policy": {
                "name": "ReducePoly",
                "args": {"poly_power": 0.9},
                "search": [{"type": "float", "args": ["poly_power"], "targets": [0.9, 0.99]}],
            },
            "model": {
                "name": "SegResnet",
                "args": {
                    "num_classes": 2,
                    "use_vae": True,
                    "blocks_down": "1,1",
                    "blocks_up": "1",
                    "init_filters": 2,
                    "use_group_norm": True,
                    "use_group_normG": 8,
                    "reg_weight": 1e-5,
                    "dropout_prob": 0.2,
                    "final_activation": "softmax",
                },
            },
            "pre_transforms": pre,
            "image_pipeline": {
                "name": "SegmentationImagePipeline",
                "args": {
                    **DATALIST,
                    "data_list_key": "training",
                    "output_crop_size": CROP,
                    "output_batch_size": 2,
                    "output_image_channels": 1,
                    "output_label_channels": 1,
                    "num_workers": 0,
                    "prefetch_size": 0,
                },
            },
        },
        "validate": validate_section("SegmentationImagePipeline"),
    }


@pytest.mark.parametrize(
    ("make", "iterations"),
    [
        (
            unet_cached_config,
            4,
        ),  # 2 volumes × 2 batches of 2 crops each (batches_to_gen_at_once), batches of 2
        (segresnet_automl_config, 1),  # 2 volumes × 1 crop, one batch of 2
    ],
)
def test_a_clara3_user_config_dry_runs_then_trains_and_validates_one_epoch(
    unet_mmar: Path,  # noqa: F811
    make: Any,
    iterations: int,
) -> None:
    write_json(unet_mmar / "config" / "config_train.json", make())
    command = ("train", "-m", str(unet_mmar), "-c", "config/config_train.json")
    code, output = invoke(*command, "--dry-run")
    assert code == 0, output
    code, output = invoke(*command, "--json")
    assert code == 0, output
    summary, _ = json.JSONDecoder().raw_decode(output[output.index("{") :])
    assert summary["epochs"] == 1 and summary["iterations"] == iterations
    assert summary["key_metric"] == "val_dice" and summary["best_epoch"] == 1
    assert 0.0 <= summary["best_metric"] <= 1.0
    assert (unet_mmar / "models" / "model_final.pt").is_file()
    assert "val_dice_tc" in summary["final_metrics"]  # computed and kept: do_summary/do_print false hide it
    assert "val_dice_tc" not in output[output.index("validation:") :]
    events = EventAccumulator(str(unet_mmar / "models")).Reload()
    assert "val_dice" in events.Tags()["scalars"] and "val_dice_tc" not in events.Tags()["scalars"]


def test_a_segresnet_trained_with_its_vae_branch_exports_the_segmentation_branch(
    unet_mmar: Path,  # noqa: F811
) -> None:
    write_json(unet_mmar / "config" / "config_train.json", segresnet_automl_config())
    code, output = invoke("train", "-m", str(unet_mmar), "-c", "config/config_train.json")
    assert code == 0, output
    code, output = invoke("export", "--model_file_path", str(unet_mmar / "models"), "--model_name", "model")
    assert code == 0, output
    assert (unet_mmar / "models" / "model.ts").is_file() and (unet_mmar / "models" / "model.onnx").is_file()
