"""The configs of a bundle: `configs/inference.json` translated from a Clara validation config, and
`configs/metadata.json`, in the shape of the MONAI Model Zoo's segmentation bundles (spleen_ct_segmentation).

`inference.json` takes `bundle_root`, `dataset_dir` (every `*.nii.gz` and `*.nii` in it) and `output_dir`, so
`python -m monai.bundle run --config_file DIR/configs/inference.json --meta_file DIR/configs/metadata.json
--bundle_root DIR --dataset_dir IN --output_dir OUT` segments a folder of images.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from clara_tlt.config.keypath import child
from clara_tlt.export.bundle_table import Spec, canonical_name, fields_of, translate_component

MODEL_PT = "models/model.pt"
MODEL_TS = "models/model.ts"
BUNDLE_VERSION = "0.1.0"
# What a bundle runs with besides MONAI, torch and numpy: reading NIfTI, and MONAI's ignite-based evaluator.
REQUIRED_PACKAGES = ("nibabel", "pytorch-ignite")  # MONAI ≥ 1.4's name for the Model Zoo's optional_packages
# Sections of a validation config that do not predict: left out of the bundle, and the summary says so.
NOT_PREDICTING = ("label_transforms", "val_metrics", "metrics", "aux_ops", "model_loader")


# configs/logging.conf as the Model Zoo's bundles have it (`monai.bundle run` reads it by default).
LOGGING_CONF = """[loggers]
keys=root

[handlers]
keys=consoleHandler

[formatters]
keys=fullFormatter

[logger_root]
level=INFO
handlers=consoleHandler

[handler_consoleHandler]
class=StreamHandler
level=INFO
formatter=fullFormatter
args=(sys.stdout,)

[formatter_fullFormatter]
format=%(asctime)s - %(name)s - %(levelname)s - %(message)s
"""


@dataclass(frozen=True)
class NetworkFacts:
    """What the bundle says about the network: its config entry (a MONAI `_target_` spec, or the expression
    that loads `models/model.ts`), channels in and out, and the window it sees."""

    network_def: Spec | str
    in_channels: int
    out_channels: int
    roi: list[int]

    @property
    def torchscript(self) -> bool:
        return isinstance(self.network_def, str)


@dataclass
class Translation:
    """A validation config's prediction section in MONAI terms, and what was left out."""

    preprocessing: list[Spec] = field(default_factory=list)
    inferer: Spec = field(default_factory=lambda: {"_target_": "SimpleInferer"})
    postprocessing: list[Spec] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)
    label_names: list[str] = field(default_factory=list)
    components: list[tuple[str, str]] = field(default_factory=list)  # (Clara name, MONAI targets)


def translate(data: Mapping[str, Any], *, file: str, out_channels: int) -> Translation:
    """Translate the prediction section of a resolved config (a validation config's top level, else its
    `validate` section): pre-transforms, inferer, post-transforms and writers (exit 3 on the first refusal)."""
    section = "" if "pre_transforms" in data else "validate"
    body: Mapping[str, Any] = data if section == "" else data.get(section) or {}
    result = Translation(left_out=[child(section, k) for k in NOT_PREDICTING if k in body])

    def each(slot: str, kind: str) -> list[Spec]:
        specs = body.get(slot) or []
        listed = isinstance(specs, list)
        out: list[Spec] = []
        for index, spec in enumerate(specs if listed else [specs]):
            where = child(child(section, slot), index) if listed else child(section, slot)
            made = translate_component(spec, kind, file=file, key_path=where)
            result.components.append((_name(spec, kind), " + ".join(m["_target_"] for m in made) or "—"))
            out += made
        return out

    result.preprocessing = each("pre_transforms", "transform")
    if body.get("inferer"):
        result.inferer = each("inferer", "inferer")[0]
    result.postprocessing = each("post_transforms", "transform")
    writers = each("writers", "writer") + each("writer", "writer")
    result.postprocessing += writers or _default_writer(result, out_channels)
    result.label_names = _label_names(body.get("post_transforms") or [])
    return result


def _name(spec: Any, kind: str) -> str:
    name = spec if isinstance(spec, str) else spec.get("name") or spec.get("path") or "?"
    return canonical_name(kind, str(name))


def _default_writer(result: Translation, out_channels: int) -> list[Spec]:
    """What infer writes for a config with no writer: the labels of `model` as uint8 NIfTI."""
    argmax_done = any(s["_target_"] == "AsDiscreted" and "pred" in s["keys"] for s in result.postprocessing)
    labels: list[Spec] = (
        []
        if argmax_done or out_channels < 2
        else [{"_target_": "AsDiscreted", "keys": "pred", "argmax": True}]
    )
    saver = translate_component(
        {"name": "WriteNifti", "args": {"field": "model", "dtype": "uint8"}},
        "writer",
        file="(default writer)",
        key_path="writers",
    )
    return labels + saver


def _label_names(post_transforms: list[Any]) -> list[str]:
    """The names a `SplitBasedOnLabel` of `model` gives each label value (the config's only label names)."""
    for spec in post_transforms:
        args = spec.get("args") or {} if isinstance(spec, dict) else {}
        if _name(spec, "transform") == "SplitBasedOnLabel" and fields_of(args) == ["model"]:
            return [str(n) for n in args.get("label_names") or []]
    return []


def inference_config(translation: Translation, network: NetworkFacts) -> dict[str, Any]:
    """`configs/inference.json`: the Model Zoo's segmentation layout around the translated components."""
    config: dict[str, Any] = {
        "imports": ["$import glob", "$import os", "$import numpy"],
        "bundle_root": ".",
        "output_dir": "$@bundle_root + '/eval'",
        "dataset_dir": "$@bundle_root + '/data'",
        "datalist": "$sorted(glob.glob(@dataset_dir + '/*.nii.gz') + glob.glob(@dataset_dir + '/*.nii'))",
        "device": "$torch.device('cuda:0' if torch.cuda.is_available() else 'cpu')",
        "network_def": network.network_def,
        "network": "$@network_def.to(@device)",
        "preprocessing": {"_target_": "Compose", "transforms": translation.preprocessing},
        "dataset": {
            "_target_": "Dataset",
            "data": "$[{'image': i} for i in @datalist]",
            "transform": "@preprocessing",
        },
        "dataloader": {
            "_target_": "DataLoader",
            "dataset": "@dataset",
            "batch_size": 1,
            "shuffle": False,
            "num_workers": 0,
        },
        "inferer": translation.inferer,
        "postprocessing": {"_target_": "Compose", "transforms": translation.postprocessing},
        "handlers": [{"_target_": "StatsHandler", "iteration_log": False}],
        "evaluator": {
            "_target_": "SupervisedEvaluator",
            "device": "@device",
            "val_data_loader": "@dataloader",
            "network": "@network",
            "inferer": "@inferer",
            "postprocessing": "@postprocessing",
            "val_handlers": "@handlers",
            "amp": False,
        },
        "initialize": ["$monai.utils.set_determinism(seed=0)"],
        "run": ["$@evaluator.run()"],
    }
    if not network.torchscript:  # a MONAI network is built from its spec and its weights loaded from model.pt
        config["checkpointloader"] = {
            "_target_": "CheckpointLoader",
            "load_path": f"$@bundle_root + '/{MODEL_PT}'",
            "load_dict": {"model": "@network"},
            "map_location": "@device",
        }
        config["initialize"].append("$@checkpointloader(@evaluator)")
    return config


def torchscript_network_def() -> str:
    """The `network_def` of a bundle whose network is TorchScript: loaded from `models/model.ts`."""
    return f"$torch.jit.load(@bundle_root + '/{MODEL_TS}')"


def metadata(
    translation: Translation, network: NetworkFacts, *, name: str, description: str
) -> dict[str, Any]:
    """`configs/metadata.json`: versions, task, and `network_data_format` (inputs and outputs)."""
    import monai
    import numpy
    import torch

    windowed = translation.inferer["_target_"] == "SlidingWindowInferer"
    labels = translation.label_names or [f"class {i}" for i in range(network.out_channels)]
    return {
        "version": BUNDLE_VERSION,
        "changelog": {BUNDLE_VERSION: description},
        "monai_version": monai.__version__,
        "pytorch_version": torch.__version__.split("+")[0],
        "numpy_version": numpy.__version__,
        "required_packages_version": {p: importlib.metadata.version(p) for p in REQUIRED_PACKAGES},
        "name": name,
        "task": f"{name} segmentation",
        "description": description,
        "authors": "exported by clara_tlt from a Clara Train MMAR",
        "data_type": "nibabel",
        "network_data_format": {
            "inputs": {
                "image": _tensor_format(
                    "image",
                    network.in_channels,
                    network.roi,
                    windowed,
                    {str(i): "image" for i in range(network.in_channels)},
                    _intensity_range(translation.preprocessing),
                )
            },
            "outputs": {
                "pred": _tensor_format(
                    "segmentation",
                    network.out_channels,
                    network.roi,
                    windowed,
                    {str(i): label for i, label in enumerate(labels)},
                    [],  # scores or logits, as the network gives them
                )
            },
        },
    }


def _intensity_range(preprocessing: list[Spec]) -> list[float]:
    """What the network sees: the `[b_min, b_max]` of the last ScaleIntensityRanged, else unknown (`[]`)."""
    scaled = [s for s in preprocessing if s["_target_"] == "ScaleIntensityRanged"]
    return [scaled[-1].get("b_min", 0.0), scaled[-1].get("b_max", 1.0)] if scaled else []


def _tensor_format(
    kind: str,
    channels: int,
    roi: list[int],
    patches: bool,
    channel_def: dict[str, str],
    value_range: list[float],
) -> dict[str, Any]:
    return {
        "type": "image",
        "format": "magnitude" if kind == "image" else kind,
        "num_channels": channels,
        "spatial_shape": roi,
        "dtype": "float32",
        "value_range": value_range,
        "is_patch_data": patches,
        "channel_def": channel_def,
    }
