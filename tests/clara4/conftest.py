"""A tiny Clara 4.0-style MMAR (written here after the forms of Clara Train 4.0's configuration appendix): MONAI 0.x
names (`dimensions`, `AddChanneld`, `n_classes`), `@` references, 4.0's `metrics` list with `log_label` and
`is_key_metric`, handlers in Clara's order with `"rank": 0`; a UNet of 4-8-16 channels on 16³ crops."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.conftest import write_json

KEYS = ["image", "label"]
LOAD = [
    {"name": "LoadImaged", "args": {"keys": KEYS}},
    {"name": "AddChanneld", "args": {"keys": KEYS}},
    {
        "name": "ScaleIntensityRanged",
        "args": {"keys": "image", "a_min": -100, "a_max": 200, "b_min": 0.0, "b_max": 1.0, "clip": True},
    },
]
POST = [
    {"name": "Activationsd", "args": {"keys": "pred", "softmax": True}},
    {
        "name": "AsDiscreted",
        "args": {"keys": ["pred", "label"], "argmax": [True, False], "to_onehot": True, "n_classes": 2},
    },
]
PAIR = "#monai.handlers.from_engine(['pred', 'label'])"
UNET = {
    "name": "UNet",
    "args": {
        "dimensions": 3,
        "in_channels": 1,
        "out_channels": 2,
        "channels": [4, 8, 16],
        "strides": [2, 2],
        "num_res_units": 0,
    },
}
SEGRESNET = {
    "name": "SegResNet",
    "args": {
        "spatial_dims": 3,
        "in_channels": 1,
        "out_channels": 2,
        "init_filters": 8,
        "blocks_down": [1, 1],
        "blocks_up": [1],
    },
}


def dataset(key: str, transforms: str = "@pre_transforms") -> dict[str, Any]:
    """A CacheDataset over datalist list `key`."""
    return {
        "name": "CacheDataset",
        "data_list_file_path": "{DATASET_JSON}",
        "data_file_base_dir": "{DATA_ROOT}",
        "data_list_key": key,
        "args": {"transform": transforms, "cache_rate": 1.0, "num_workers": 0},
    }


def train_config(model: dict[str, Any] | None = None) -> dict[str, Any]:
    """config_train.json: train and validate sections, trainer/evaluator wired implicitly (Clara 4.0)."""
    return {
        "epochs": 2,
        "num_interval_per_valid": 1,
        "learning_rate": 0.01,
        "multi_gpu": False,
        "amp": True,
        "determinism": {"random_seed": 0},
        "dont_load_ckpt_model": True,
        "train": {
            "loss": {"name": "DiceLoss", "args": {"to_onehot_y": True, "softmax": True}},
            "optimizer": {
                "name": "Adam",
                "args": {"params": "#@model.parameters()", "lr": "{learning_rate}"},
            },
            "lr_scheduler": {
                "name": "StepLR",
                "args": {"optimizer": "@optimizer", "step_size": 5, "gamma": 0.5},
            },
            "model": copy.deepcopy(model or UNET),
            "pre_transforms": [
                *LOAD,
                {
                    "name": "RandSpatialCropd",
                    "args": {"keys": KEYS, "roi_size": [16, 16, 16], "random_size": False},
                },
                {"name": "ToTensord", "args": {"keys": KEYS}},
            ],
            "dataset": dataset("training"),
            "dataloader": {
                "name": "DataLoader",
                "args": {"dataset": "@dataset", "batch_size": 2, "shuffle": True, "num_workers": 0},
            },
            "inferer": {"name": "SimpleInferer"},
            "handlers": [
                {
                    "name": "CheckpointLoader",
                    "disabled": "{dont_load_ckpt_model}",
                    "args": {"load_path": "{MMAR_CKPT}", "load_dict": ["model"]},
                },
                {"name": "LrScheduleHandler", "args": {"lr_scheduler": "@lr_scheduler", "print_lr": True}},
                {
                    "name": "ValidationHandler",
                    "args": {
                        "validator": "@evaluator",
                        "epoch_level": True,
                        "interval": "{num_interval_per_valid}",
                    },
                },
                {
                    "name": "CheckpointSaver",
                    "rank": 0,
                    "args": {
                        "save_dir": "{MMAR_CKPT_DIR}",
                        "save_dict": ["model", "optimizer", "lr_scheduler", "train_conf"],
                        "save_final": True,
                    },
                },
                {
                    "name": "StatsHandler",
                    "rank": 0,
                    "args": {
                        "tag_name": "train_loss",
                        "output_transform": "#monai.handlers.from_engine(['loss'], first=True)",
                    },
                },
                {
                    "name": "TensorBoardStatsHandler",
                    "rank": 0,
                    "args": {
                        "log_dir": "{MMAR_CKPT_DIR}",
                        "tag_name": "train_loss",
                        "output_transform": "#monai.handlers.from_engine(['loss'], first=True)",
                    },
                },
            ],
            "post_transforms": POST,
            "metrics": [
                {
                    "name": "Accuracy",
                    "log_label": "train_acc",
                    "is_key_metric": True,
                    "args": {"output_transform": PAIR},
                }
            ],
            "trainer": {"name": "SupervisedTrainer", "args": {"max_epochs": "{epochs}"}},
        },
        "validate": {
            "pre_transforms": [*LOAD, {"name": "ToTensord", "args": {"keys": KEYS}}],
            "dataset": dataset("validation"),
            "dataloader": {
                "name": "DataLoader",
                "args": {"dataset": "@dataset", "batch_size": 1, "shuffle": False, "num_workers": 0},
            },
            "inferer": {
                "name": "SlidingWindowInferer",
                "args": {"roi_size": [16, 16, 16], "sw_batch_size": 2, "overlap": 0.25},
            },
            "handlers": [
                {"name": "StatsHandler", "rank": 0, "args": {"output_transform": "lambda x: None"}},
                {
                    "name": "CheckpointSaver",
                    "rank": 0,
                    "args": {
                        "save_dir": "{MMAR_CKPT_DIR}",
                        "save_dict": ["model", "train_conf"],
                        "save_key_metric": True,
                    },
                },
            ],
            "post_transforms": POST,
            "metrics": [
                {
                    "name": "MeanDice",
                    "log_label": "val_mean_dice",
                    "is_key_metric": True,
                    "args": {"include_background": False, "output_transform": PAIR},
                },
                {"name": "Accuracy", "log_label": "val_acc", "args": {"output_transform": PAIR}},
            ],
            "evaluator": {"name": "SupervisedEvaluator"},
        },
    }


def validation_config(model: dict[str, Any] | None = None) -> dict[str, Any]:
    """config_validation.json: the trained model scored, MetricsSaver writing its reports."""
    validate = train_config(model)["validate"]
    return {
        "amp": False,
        "model": copy.deepcopy(model or UNET),
        **{
            k: validate[k]
            for k in (
                "pre_transforms",
                "dataset",
                "dataloader",
                "inferer",
                "post_transforms",
                "metrics",
                "evaluator",
            )
        },
        "handlers": [
            {
                "name": "CheckpointLoader",
                "args": {"load_path": "{MMAR_CKPT_DIR}/model.pt", "load_dict": ["model"]},
            },
            {"name": "StatsHandler", "rank": 0, "args": {"output_transform": "lambda x: None"}},
            {
                "name": "MetricsSaver",
                "rank": 0,
                "args": {
                    "save_dir": "{MMAR_EVAL_OUTPUT_PATH}",
                    "metrics": ["val_mean_dice", "val_acc"],
                    "metric_details": ["val_mean_dice"],
                    "summary_ops": "*",
                },
            },
        ],
    }


def inference_config(model: dict[str, Any] | None = None) -> dict[str, Any]:
    """config_inference.json: images only, SaveImaged writing each prediction beside nothing else."""
    return {
        "model": copy.deepcopy(model or UNET),
        "pre_transforms": [
            {"name": "LoadImaged", "args": {"keys": "image"}},
            {"name": "AddChanneld", "args": {"keys": "image"}},
            {
                "name": "ScaleIntensityRanged",
                "args": {
                    "keys": "image",
                    "a_min": -100,
                    "a_max": 200,
                    "b_min": 0.0,
                    "b_max": 1.0,
                    "clip": True,
                },
            },
        ],
        "dataset": {**dataset("validation"), "name": "Dataset", "args": {"transform": "@pre_transforms"}},
        "dataloader": {
            "name": "DataLoader",
            "args": {"dataset": "@dataset", "batch_size": 1, "num_workers": 0},
        },
        "inferer": {"name": "SlidingWindowInferer", "args": {"roi_size": [16, 16, 16], "sw_batch_size": 2}},
        "handlers": [
            {
                "name": "CheckpointLoader",
                "args": {"load_path": "{MMAR_CKPT_DIR}/model.pt", "load_dict": ["model"]},
            }
        ],
        "post_transforms": [
            {"name": "Activationsd", "args": {"keys": "pred", "softmax": True}},
            {"name": "AsDiscreted", "args": {"keys": "pred", "argmax": True}},
            {
                "name": "SaveImaged",
                "args": {
                    "keys": "pred",
                    "meta_keys": "image_meta_dict",
                    "output_dir": "{MMAR_EVAL_OUTPUT_PATH}",
                    "output_postfix": "seg",
                    "resample": False,
                },
            },
        ],
        "evaluator": {"name": "SupervisedEvaluator"},
    }


def write_mmar(root: Path, datalist: Path, model: dict[str, Any] | None = None) -> Path:
    """The MMAR: config/ with the three configs and environment.json (models/ and eval/ relative to it)."""
    write_json(root / "config" / "config_train.json", train_config(model))
    write_json(root / "config" / "config_validation.json", validation_config(model))
    write_json(root / "config" / "config_inference.json", inference_config(model))
    environment = {
        "DATA_ROOT": str(datalist.parent),
        "DATASET_JSON": str(datalist),
        "MMAR_CKPT_DIR": "models",
        "MMAR_CKPT": "models/model.pt",
        "MMAR_EVAL_OUTPUT_PATH": "eval",
    }
    write_json(root / "config" / "environment.json", environment)
    return root


@pytest.fixture
def mmar4(tmp_path: Path, synthetic_dataset: Path) -> Path:
    """A fresh Clara 4.x MMAR over the session's synthetic data (2 training cases, 1 validation case)."""
    return write_mmar(tmp_path / "mmar4", synthetic_dataset)


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, synthetic_dataset: Path) -> dict[str, Any]:
    """A Clara 4.x MMAR trained for 2 epochs the hard way: Ctrl-C in epoch 2 (exit 130), then the same command
    resumes. Returns the MMAR and each run's (exit code, output)."""
    from monai.engines import SupervisedTrainer

    from tests.test_cli import invoke

    mmar = write_mmar(tmp_path_factory.mktemp("trained") / "mmar", synthetic_dataset)
    command = ("train", "-m", str(mmar), "-c", "config/config_train.json")
    original = SupervisedTrainer._iteration

    def interrupted(self: Any, engine: Any, batchdata: Any) -> Any:
        if engine.state.epoch == 2:
            raise KeyboardInterrupt
        return original(self, engine, batchdata)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SupervisedTrainer, "_iteration", interrupted)
        first = invoke(*command)
    after_first = torch.load(mmar / "models" / "train_state.pt", weights_only=True)["trainer"]["epoch"]
    return {"mmar": mmar, "first": first, "resumed_from_epoch": after_first, "second": invoke(*command)}
