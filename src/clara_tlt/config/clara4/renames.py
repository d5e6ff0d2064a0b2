"""What MONAI changed since the 0.5–0.8 releases that Clara Train 4.0/4.1 shipped with, as data: the one
table `modernise` reads, docs/clara4.md quotes and a test checks against the installed MONAI.

Each `Change` is one component name of one kind ("*": every MONAI name of that kind). Names and arguments
not listed here mean the same in MONAI 1.6 as in 0.8 (the test holds the ones the 4.x documentation writes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

KINDS = (
    "network",
    "transform",
    "loss",
    "metric",
    "handler",
    "inferer",
    "dataset",
    "dataloader",
    "optimizer",
    "lr_scheduler",
    "engine",
)
EVERY_NAME = "*"


@dataclass(frozen=True)
class Change:
    """What MONAI changed in one name of one kind, and in which release."""

    kind: str
    name: str  # as a 4.x config writes it; EVERY_NAME: every MONAI component of the kind
    since: str  # the MONAI release that made the change (the old form went later)
    new_name: str = ""  # its MONAI 1.6 name; "": the same
    args: Mapping[str, str] = field(default_factory=dict)  # old argument → its new name
    dropped: tuple[str, ...] = ()  # arguments MONAI removed because they no longer do anything
    defaults: Mapping[str, Any] = field(default_factory=dict)  # set when absent: the 0.x behaviour
    reshape: str = ""  # a rewrite of the arguments that a rename cannot say (modernise.RESHAPES)
    removed: str = ""  # removed without a successor of its kind: what to write instead
    kept: str = ""  # MONAI kept the old name but its behaviour changed: why the successor runs the config


CHANGES: tuple[Change, ...] = (
    # networks
    Change("network", EVERY_NAME, "0.6", args={"dimensions": "spatial_dims"}),
    Change(
        "network",
        "TorchVisionFullyConvModel",
        "0.7",
        new_name="TorchVisionFCModel",
        args={"n_classes": "num_classes"},
        defaults={"use_conv": True},
        reshape="pool",
    ),
    Change("network", "TorchVisionFCModel", "0.8", args={"n_classes": "num_classes"}),
    # transforms
    Change(
        "transform",
        "AddChanneld",
        "0.8",
        new_name="EnsureChannelFirstd",
        defaults={"channel_dim": "no_channel"},
    ),
    Change(
        "transform",
        "AddChannel",
        "0.8",
        new_name="EnsureChannelFirst",
        defaults={"channel_dim": "no_channel"},
    ),
    Change(
        "transform", "AsChannelFirstd", "0.8", new_name="EnsureChannelFirstd", defaults={"channel_dim": -1}
    ),
    Change("transform", "AsChannelFirst", "0.8", new_name="EnsureChannelFirst", defaults={"channel_dim": -1}),
    Change("transform", "SplitChanneld", "0.8", new_name="SplitDimd", args={"channel_dim": "dim"}),
    Change("transform", "SplitChannel", "0.8", new_name="SplitDim", args={"channel_dim": "dim"}),
    Change("transform", "LoadNiftid", "0.5", new_name="LoadImaged", defaults={"reader": "NibabelReader"}),
    Change("transform", "LoadNumpyd", "0.5", new_name="LoadImaged", defaults={"reader": "NumpyReader"}),
    Change("transform", "LoadPNGd", "0.5", new_name="LoadImaged", defaults={"reader": "PILReader"}),
    # 1.x loads a MetaTensor alone; 4.x configs read the "<key>_meta_dict" entries 0.x wrote beside it
    Change("transform", "LoadImaged", "1.1", defaults={"image_only": False}),
    # 0.x let the box stop at the image's edge; 1.5 made that opt-in
    Change("transform", "CropForegroundd", "1.5", defaults={"allow_smaller": True}),
    Change("transform", "RandCropByPosNegLabeld", "0.9", dropped=("meta_keys", "meta_key_postfix")),
    Change("transform", "RandAffined", "0.9", dropped=("as_tensor_output",)),
    Change("transform", "Affined", "0.9", dropped=("as_tensor_output",)),
    Change("transform", "Rand2DElasticd", "0.9", dropped=("as_tensor_output",)),
    Change("transform", "Rand3DElasticd", "0.9", dropped=("as_tensor_output",)),
    Change("transform", "SaveImaged", "0.7", dropped=("save_batch",)),
    Change(
        "transform",
        "ToTensord",
        "0.9",
        new_name="EnsureTyped",
        kept="the same tensor; ToTensord's inverse now hands numpy to the inverses before it, which refuse it",
    ),
    Change("transform", "AsDiscreted", "0.8", reshape="as_discrete"),
    Change("transform", "AsDiscrete", "0.8", reshape="as_discrete"),
    # losses
    Change("loss", "DiceCELoss", "1.2", args={"ce_weight": "weight"}),
    Change("loss", "DiceFocalLoss", "1.2", args={"focal_weight": "weight"}),
    # handlers and metrics: 0.6's engines decollate, so 4.0's lambdas on a batch dict read a list
    Change("metric", EVERY_NAME, "0.6", reshape="batched"),
    Change("handler", EVERY_NAME, "0.6", reshape="batched"),
    # handlers
    Change(
        "handler",
        "TensorBoardStatsHandler",
        "0.8",
        args={"epoch_interval": "epoch_log", "iteration_interval": "iteration_log"},
    ),
    Change(
        "handler",
        "SegmentationSaver",
        "0.9",
        removed='write the predictions with a SaveImaged transform at the end of post_transforms, e.g. {"name": '
        '"SaveImaged", "args": {"keys": "pred", "meta_keys": "pred_meta_dict", "output_dir": "{MMAR_EVAL_OUTPUT_PATH}"}}',
    ),
    Change(
        "handler",
        "TransformInverter",
        "0.9",
        removed='invert the pre_transforms with an Invertd transform in post_transforms, e.g. {"name": "Invertd", '
        '"args": {"keys": "pred", "transform": "@pre_transforms", "orig_keys": "image"}}',
    ),
    # engines
    Change("engine", EVERY_NAME, "0.6", args={"post_transform": "postprocessing"}),
)

TABLE: Mapping[tuple[str, str], Change] = MappingProxyType({(c.kind, c.name): c for c in CHANGES})
