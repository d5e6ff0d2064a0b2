"""The rename table against the installed MONAI: every target exists and takes its new argument names, every
old form is really gone; and `modernise` rewrites 4.x specs as the table says, logging each change."""

from __future__ import annotations

import importlib
import inspect
import logging
from typing import Any

import pytest
import torch

from clara_tlt.config.clara4 import CHANGES, Change, modernise, resolve_value
from clara_tlt.errors import ConfigError

MODULES = {
    "network": "monai.networks.nets",
    "transform": "monai.transforms",
    "loss": "monai.losses",
    "metric": "monai.handlers",
    "handler": "monai.handlers",
    "inferer": "monai.inferers",
    "dataset": "monai.data",
    "dataloader": "monai.data",
    "engine": "monai.engines",
}
# What a "*" change applies to: the MONAI names of that kind the 4.x documentation's configs write.
EVERY = {
    "network": ("UNet", "BasicUNet", "SegResNet", "DynUNet", "DenseNet121", "HighResNet", "VNet", "AHNet"),
    "engine": ("SupervisedTrainer", "SupervisedEvaluator", "EnsembleEvaluator"),
    "metric": ("MeanDice", "ROCAUC", "HausdorffDistance", "SurfaceDistance"),
    "handler": ("StatsHandler", "TensorBoardStatsHandler", "ValidationHandler", "LrScheduleHandler"),
}


def monai_class(kind: str, name: str) -> Any:
    return getattr(importlib.import_module(MODULES[kind]), name, None)


def parameters(kind: str, name: str) -> set[str]:
    return set(inspect.signature(monai_class(kind, name)).parameters)


def targets(change: Change) -> tuple[str, ...]:
    return EVERY[change.kind] if change.name == "*" else (change.new_name or change.name,)


@pytest.mark.parametrize("change", CHANGES, ids=lambda c: f"{c.kind}:{c.name}")
def test_each_change_leads_to_what_monai_16_has(change: Change) -> None:
    if change.removed:
        assert monai_class(change.kind, change.name) is None, f"{change.name} is still in MONAI"
        return
    if change.new_name and change.kept:  # the old name stays; its successor must take every argument it took
        assert parameters(change.kind, change.name) <= parameters(change.kind, change.new_name), change.name
    elif change.new_name:
        assert monai_class(change.kind, change.name) is None, (
            f"{change.name} is still in MONAI: no rename needed"
        )
    for name in targets(change):
        assert monai_class(change.kind, name) is not None, f"{name} is not in {MODULES[change.kind]}"
        accepted = parameters(change.kind, name)
        assert set(change.args.values()) | set(change.defaults) <= accepted, name
        assert not (set(change.args) | set(change.dropped)) & accepted, f"{name} still takes the old argument"


# Names and arguments the 4.x documentation's configs write that need no change: they must still be accepted.
UNCHANGED = [
    (
        "network",
        "DynUNet",
        {"spatial_dims": 3, "deep_supervision": True, "deep_supr_num": 2, "res_block": True},
    ),
    (
        "network",
        "SegResNet",
        {"init_filters": 8, "blocks_down": [1, 2], "dropout_prob": 0.2, "upsample_mode": "deconv"},
    ),
    ("network", "HighResNet", {"norm_type": "batch", "acti_type": "relu", "dropout_prob": 0.0}),
    ("network", "VNet", {"dropout_prob": 0.5, "dropout_dim": 3}),
    ("network", "AHNet", {"layers": [3, 4, 6, 3], "upsample_mode": "transpose", "psp_block_num": 4}),
    ("network", "DenseNet121", {"spatial_dims": 2, "in_channels": 1, "out_channels": 2}),
    ("transform", "RandShiftIntensityd", {"keys": "image", "offsets": 0.1, "prob": 0.5}),
    (
        "transform",
        "ScaleIntensityRanged",
        {"keys": "image", "a_min": -57, "a_max": 164, "b_min": 0.0, "clip": True},
    ),
    ("transform", "RandCropByPosNegLabeld", {"image_key": "image", "image_threshold": 0, "num_samples": 4}),
    ("transform", "Spacingd", {"keys": "image", "pixdim": [1.5, 1.5, 2.0], "mode": ["bilinear", "nearest"]}),
    ("loss", "DiceLoss", {"to_onehot_y": True, "softmax": True, "squared_pred": True, "jaccard": False}),
    ("loss", "FocalLoss", {"gamma": 2.0, "weight": [1.0, 2.0]}),
    ("metric", "MeanDice", {"include_background": False, "output_transform": "lambda x: x"}),
    ("metric", "ROCAUC", {"average": "macro", "output_transform": "lambda x: x"}),
    (
        "handler",
        "CheckpointSaver",
        {"save_dir": "m", "save_dict": {}, "save_final": True, "save_key_metric": True},
    ),
    ("handler", "CheckpointSaver", {"save_interval": 10, "n_saved": 1, "key_metric_negative_sign": False}),
    ("handler", "CheckpointLoader", {"load_path": "m/model.pt", "load_dict": {}}),
    ("handler", "StatsHandler", {"tag_name": "train_loss", "output_transform": "lambda x: x"}),
    ("handler", "TensorBoardStatsHandler", {"log_dir": "m", "tag_name": "train_loss"}),
    ("handler", "LrScheduleHandler", {"lr_scheduler": "@lr_scheduler", "print_lr": True}),
    ("handler", "ValidationHandler", {"validator": "@evaluator", "epoch_level": True, "interval": 1}),
    ("handler", "MetricsSaver", {"save_dir": "e", "metrics": "*", "metric_details": "*", "summary_ops": "*"}),
    ("inferer", "SlidingWindowInferer", {"roi_size": [32, 32, 32], "sw_batch_size": 4, "overlap": 0.5}),
    ("dataset", "CacheDataset", {"cache_num": 4, "cache_rate": 1.0, "num_workers": 2}),
    ("dataset", "SmartCacheDataset", {"replace_rate": 0.25, "num_init_workers": 2, "num_replace_workers": 2}),
    ("dataset", "PersistentDataset", {"cache_dir": "cache"}),
    (
        "engine",
        "SupervisedTrainer",
        {"max_epochs": 2, "key_train_metric": None, "train_handlers": [], "amp": True},
    ),
    (
        "engine",
        "SupervisedEvaluator",
        {"key_val_metric": None, "additional_metrics": None, "val_handlers": []},
    ),
]


@pytest.mark.parametrize(("kind", "name", "args"), UNCHANGED, ids=lambda v: v if isinstance(v, str) else "")
def test_what_the_4x_docs_write_unchanged_is_still_accepted(
    kind: str, name: str, args: dict[str, Any]
) -> None:
    spec = modernise({"name": name, "args": args}, kind=kind, file="f.json", key_path="k")
    assert spec["name"] == name
    assert set(spec["args"]) <= parameters(kind, name)


def test_each_rename_is_one_log_line_naming_file_key_and_old_and_new(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="clara_tlt.config.clara4")
    spec = {"name": "UNet", "args": {"dimensions": 3, "in_channels": 1}, "disabled": False}
    assert modernise(spec, kind="network", file="config_train.json", key_path="train.model") == {
        "name": "UNet",
        "args": {"in_channels": 1, "spatial_dims": 3},
        "disabled": False,
    }
    assert [r.getMessage() for r in caplog.records] == [
        "config_train.json: train.model.args.dimensions: dimensions → spatial_dims (MONAI 0.6)"
    ]
    assert spec["args"] == {"dimensions": 3, "in_channels": 1}  # the config as read is left alone


def test_add_channel_becomes_ensure_channel_first_and_still_adds_a_channel(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="clara_tlt.config.clara4")
    spec = modernise(
        {"path": "monai.transforms.AddChanneld", "args": {"keys": "image"}},
        kind="transform",
        file="config_train.json",
        key_path="train.pre_transforms[1]",
    )
    assert spec == {
        "path": "monai.transforms.EnsureChannelFirstd",
        "args": {"keys": "image", "channel_dim": "no_channel"},
    }
    assert "train.pre_transforms[1].path: AddChanneld → EnsureChannelFirstd" in caplog.text
    built = monai_class("transform", "EnsureChannelFirstd")(**spec["args"])
    assert built({"image": torch.zeros(4, 5)})["image"].shape == (1, 4, 5)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ({"to_onehot": True, "n_classes": 3}, {"to_onehot": 3}),
        ({"to_onehot": True, "num_classes": 3}, {"to_onehot": 3}),
        ({"to_onehot": [True, False], "n_classes": 3}, {"to_onehot": [3, None]}),
        ({"to_onehot": [True, True], "n_classes": [3, 2]}, {"to_onehot": [3, 2]}),
        ({"to_onehot": False, "n_classes": 3}, {"to_onehot": None}),
        ({"n_classes": 3}, {}),
        ({"threshold_values": True, "logit_thresh": 0.3}, {"threshold": 0.3}),
        ({"threshold_values": True}, {"threshold": 0.5}),
        ({"threshold_values": [True, False], "logit_thresh": 0.3}, {"threshold": [0.3, None]}),
        ({"to_onehot": 2, "threshold": 0.5}, {"to_onehot": 2, "threshold": 0.5}),  # already 1.x: as it is
    ],
)
def test_as_discrete_old_argument_forms_become_monai_16_ones(
    old: dict[str, Any], new: dict[str, Any]
) -> None:
    spec = modernise(
        {"name": "AsDiscreted", "args": {"keys": "pred", **old}}, kind="transform", file="f", key_path="k"
    )
    assert spec["args"] == {"keys": "pred", **new}


def test_a_modernised_as_discreted_does_what_the_old_one_did() -> None:
    old = {"keys": ["pred", "label"], "argmax": [True, False], "to_onehot": True, "n_classes": 2}
    args = modernise({"name": "AsDiscreted", "args": old}, kind="transform", file="f", key_path="k")["args"]
    data = {"pred": torch.tensor([[[0.9, 0.1]], [[0.1, 0.9]]]), "label": torch.tensor([[[0.0, 1.0]]])}
    out = monai_class("transform", "AsDiscreted")(**args)(data)
    assert out["pred"].tolist() == [[[1.0, 0.0]], [[0.0, 1.0]]]
    assert out["label"].tolist() == [[[1.0, 0.0]], [[0.0, 1.0]]]


def test_to_onehot_true_without_a_class_count_says_what_to_write() -> None:
    with pytest.raises(
        ConfigError, match=r'train.post_transforms\[1\].args.to_onehot: .*"to_onehot": N'
    ) as caught:
        modernise(
            {"name": "AsDiscreted", "args": {"keys": "pred", "to_onehot": True}},
            kind="transform",
            file="config_train.json",
            key_path="train.post_transforms[1]",
        )
    assert caught.value.exit_code == 3


def test_an_old_torchvision_model_becomes_the_fc_model_with_its_pooling() -> None:
    old = {"model_name": "resnet18", "n_classes": 2, "pool_size": [4, 4], "pool_stride": 2}
    spec = modernise(
        {"name": "TorchVisionFullyConvModel", "args": old}, kind="network", file="f", key_path="k"
    )
    assert spec == {
        "name": "TorchVisionFCModel",
        "args": {
            "model_name": "resnet18",
            "num_classes": 2,
            "pool": ("avg", {"kernel_size": [4, 4], "stride": 2}),
            "use_conv": True,
        },
    }


@pytest.mark.parametrize(
    ("name", "successor"), [("SegmentationSaver", "SaveImaged"), ("TransformInverter", "Invertd")]
)
def test_a_handler_monai_removed_is_exit_3_naming_it_and_what_to_write(name: str, successor: str) -> None:
    with pytest.raises(ConfigError) as caught:
        modernise(
            {"name": name, "args": {}}, kind="handler", file="config_validation.json", key_path="handlers[2]"
        )
    message = str(caught.value)
    assert caught.value.exit_code == 3
    assert message.startswith(f"config_validation.json: handlers[2].name: MONAI 0.9 removed {name}")
    assert successor in message


def test_old_and_new_argument_names_together_are_refused() -> None:
    with pytest.raises(
        ConfigError, match=r"train.model.args.dimensions: dimensions is MONAI 0.x's name for spatial_dims"
    ):
        modernise(
            {"name": "UNet", "args": {"dimensions": 3, "spatial_dims": 2}},
            kind="network",
            file="config_train.json",
            key_path="train.model",
        )


def test_the_users_own_code_by_path_is_left_as_written() -> None:
    spec = {"path": "my_nets.UNet", "args": {"dimensions": 3}}
    assert modernise(spec, kind="network", file="f", key_path="k") == spec


@pytest.mark.parametrize(
    ("written", "adapted", "read"),
    [
        ("lambda x: x['loss']", '#monai.handlers.from_engine(["loss"], first=True)', 0.5),
        (
            'lambda x: (x["pred"], x["label"])',
            '#monai.handlers.from_engine(["pred", "label"])',
            ([1, 3], [2, 4]),
        ),
        (
            "lambda batch: [batch['pred'], batch['label']]",
            '#monai.handlers.from_engine(["pred", "label"])',
            ([1, 3], [2, 4]),
        ),
    ],
)
def test_a_clara40_batch_lambda_reads_decollated_output_with_from_engine(
    written: str, adapted: str, read: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="clara_tlt.config.clara4")
    spec = {"name": "MeanDice", "args": {"include_background": False, "output_transform": written}}
    result = modernise(spec, kind="metric", file="config_train.json", key_path="validate.metrics[0]")
    assert result["args"] == {"include_background": False, "output_transform": adapted}
    assert [r.getMessage() for r in caplog.records] == [
        f"config_train.json: validate.metrics[0].args.output_transform: {written} → {adapted} "
        "(engines hand handlers a list of dicts) (MONAI 0.6)"
    ]
    transform = resolve_value(adapted, {}, file="config_train.json", key_path="k")
    assert transform([{"pred": 1, "label": 2, "loss": 0.5}, {"pred": 3, "label": 4, "loss": 0.5}]) == read


@pytest.mark.parametrize(
    "written",
    [
        "lambda x: x[0]['loss']",  # Clara 4.1's own form
        "lambda x: x['pred']['a']",  # deeper than one key: from_engine cannot say it
        "lambda x: x.output",
        "lambda x: None",
        "lambda x: x['pred'].argmax()",  # refused when resolved (exit 3)
        "#monai.handlers.from_engine(['loss'], first=True)",
    ],
)
def test_other_output_transforms_stay_as_written(written: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="clara_tlt.config.clara4")
    spec = {"name": "StatsHandler", "args": {"output_transform": written}}
    assert modernise(spec, kind="handler", file="f.json", key_path="train.handlers[4]") == spec
    assert not caplog.records
