"""The one table: Clara 3.x transform, inferer and writer names → the MONAI components of a bundle.

Each Clara name either has a MONAI translation (a function from its `args` to MONAI component specs, `_target_`
plus arguments, as a bundle's config writes them) or is refused with the reason and a fix that works (exit 3).
Nothing in a bundle imports clara_tlt: a component with no faithful MONAI equivalent is refused rather than
approximated, so the bundle runs where only MONAI is installed and its labels agree with `clara-tlt infer`.
docs/export.md prints this table (tests/export/test_bundle_table.py keeps the two in step).

>>> translate_component({"name": "ScaleIntensityRange", "args": {"fields": "image", "a_max": 1}}, "transform", ...)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from clara_tlt.config.component_spec import normalize_spec
from clara_tlt.config.keypath import child
from clara_tlt.errors import ConfigError
from clara_tlt.factory.registry import TLT_PREFIXES, catalogue
from clara_tlt.transforms.base import FIELD_SYNONYMS

Spec = dict[str, Any]
# Clara's prediction field is `model`; MONAI's evaluators put the network output under `pred`.
KEYS = {"model": "pred"}
OUTPUT_DIR = "@output_dir"


def monai_key(field: str) -> str:
    """The bundle's key for a Clara field (`model` → `pred`, others unchanged)."""
    return KEYS.get(field, field)


def fields_of(args: Mapping[str, Any]) -> list[str]:
    """The Clara fields a component works on (`fields`, or one of Clara's and TLT's synonyms)."""
    for name in ("fields", *FIELD_SYNONYMS):
        if name in args:
            value = args[name]
            return [value] if isinstance(value, str) else list(value)
    return ["image"]


def _keys(args: Mapping[str, Any]) -> list[str]:
    return [monai_key(f) for f in fields_of(args)]


def _load(args: Mapping[str, Any]) -> list[Spec]:
    specs: list[Spec] = [{"_target_": "LoadImaged", "keys": _keys(args), "image_only": True}]
    if str(args.get("as_closest_canonical", False)).lower() in ("true", "1", "yes"):
        specs.append({"_target_": "Orientationd", "keys": _keys(args), "axcodes": "RAS"})
    return specs


def _channels_first(args: Mapping[str, Any]) -> list[Spec]:
    return [{"_target_": "EnsureChannelFirstd", "keys": _keys(args)}]


def _scale_range(args: Mapping[str, Any]) -> list[Spec]:
    kept = {k: args[k] for k in ("a_min", "a_max", "b_min", "b_max", "clip") if k in args}
    return [{"_target_": "ScaleIntensityRanged", "keys": _keys(args), **kept}]


def _argmax(args: Mapping[str, Any]) -> list[Spec]:
    return [{"_target_": "AsDiscreted", "keys": _keys(args), "argmax": True}]


def _split_on_label(args: Mapping[str, Any]) -> list[Spec]:
    """One uint8 mask per label value, named as Clara names the fields: a copy of the label map, then `== i`."""
    key = _keys(args)[0]
    names = list(args.get("label_names") or [])
    specs: list[Spec] = [{"_target_": "CopyItemsd", "keys": key, "times": len(names), "names": names}]
    specs += [
        {"_target_": "Lambdad", "keys": name, "func": f"$lambda x: (x == {value}).to(torch.uint8)"}
        for value, name in enumerate(names)
    ]
    return specs


def _nothing(args: Mapping[str, Any]) -> list[Spec]:
    """MONAI's MetaTensors carry the affine into every field made from the image: nothing to copy."""
    return []


def _sliding_window(args: Mapping[str, Any]) -> list[Spec]:
    renamed = {"batch_size": "sw_batch_size", "blend_mode": "mode"}
    kept = ("roi_size", "batch_size", "overlap", "blend_mode", "sigma_scale", "padding_mode")
    return [{"_target_": "SlidingWindowInferer", **{renamed.get(k, k): args[k] for k in kept if k in args}}]


def _simple(args: Mapping[str, Any]) -> list[Spec]:
    return [{"_target_": "SimpleInferer"}]


def _save_nifti(args: Mapping[str, Any]) -> list[Spec]:
    """`<output_dir>/<case>/<case>_<field>.nii.gz`, the file `clara-tlt infer` writes."""
    field = fields_of(args)[0]
    return [
        {
            "_target_": "SaveImaged",
            "keys": monai_key(field),
            "output_dir": OUTPUT_DIR,
            "output_postfix": field,
            "output_ext": ".nii.gz",
            "output_dtype": f"$numpy.{_dtype(args.get('dtype', 'float32'))}",
            "separate_folder": True,
            "resample": False,
            "print_log": False,
        }
    ]


def _dtype(name: Any) -> str:
    """NumPy's name of a writer's `dtype` ("uint8"), which the bundle writes as `$numpy.uint8`."""
    try:
        return np.dtype(name).name
    except TypeError:
        raise ConfigError(
            f"dtype {name!r} is not a NumPy data type; give one such as 'uint8' or 'float32'"
        ) from None


@dataclass(frozen=True)
class Rule:
    """A Clara name's MONAI translation (`monai`: what the docs table says), or its refusal (`refused`: why
    and what to do instead)."""

    monai: str = ""
    translate: Callable[[Mapping[str, Any]], list[Spec]] | None = None
    refused: str = ""


RESAMPLING = (
    "no MONAI transform resamples as it does (it keeps the volume's extent; Spacingd keeps the first voxel's "
    "centre), so the bundle's labels would not agree; resample the data beforehand (`tlt-dataconvert -r`, as "
    "the example pipeline does) and remove it from the inference config"
)
# kind → Clara name (canonical, as `clara-tlt components` lists it) → rule
TABLE: dict[str, dict[str, Rule]] = {
    "transform": {
        "LoadNifti": Rule("LoadImaged (+ Orientationd RAS with as_closest_canonical)", _load),
        "ConvertToChannelsFirst": Rule("EnsureChannelFirstd", _channels_first),
        "ScaleIntensityRange": Rule("ScaleIntensityRanged", _scale_range),
        "ArgmaxAcrossChannels": Rule("AsDiscreted(argmax=True)", _argmax),
        "SplitBasedOnLabel": Rule("CopyItemsd + Lambdad (x == i) per label name", _split_on_label),
        "CopyProperties": Rule("nothing: MetaTensors carry the affine", _nothing),
        "ScaleByResolution": Rule(refused=RESAMPLING),
        "ScaleBySpacing": Rule(refused=RESAMPLING),
        "RestoreOriginalShape": Rule(refused=RESAMPLING),
    },
    "inferer": {
        "ScanWindowInferer": Rule(
            "SlidingWindowInferer (same ROI, batch, overlap, blending)", _sliding_window
        ),
        "SimpleInferer": Rule("SimpleInferer", _simple),
        "TRTISScanWindowInferer": Rule(
            refused="it sends windows to a Triton server; name ScanWindowInferer with the same roi_size in the "
            "inference config (--inference-config) and the bundle runs the network itself"
        ),
    },
    "writer": {
        "WriteNifti": Rule("SaveImaged(output_postfix=field, separate_folder=True)", _save_nifti),
        "WriteMhd": Rule(
            refused="MONAI writes MetaImage only through ITK, which a bundle cannot count on; name WriteNifti "
            "in the inference config (--inference-config)"
        ),
        "WriteClassificationResult": Rule(
            refused="bundle export writes segmentation bundles; classification results have no bundle writer here"
        ),
    },
}


def canonical_name(kind: str, name: str) -> str:
    """The registered name `name` stands for (an alias, or a TLT `transforms.` prefix, resolved)."""
    for prefix in TLT_PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix) :]
    for entry in catalogue(kind):
        if name == entry.name or name in entry.aliases:
            return entry.name
    return name


def translate_component(spec: Any, kind: str, *, file: str, key_path: str) -> list[Spec]:
    """The MONAI specs of one Clara component, or a `ConfigError` (exit 3) naming it and what to do."""
    normal = normalize_spec(spec, file=file, key_path=key_path)
    if normal.name is None:
        raise ConfigError(
            f"{kind} path '{normal.path}' is your own code, which a bundle without clara_tlt cannot run; "
            f"replace it with one of the names docs/export.md lists for a bundle ({', '.join(TABLE[kind])})",
            file=file,
            key_path=child(key_path, "path"),
        )
    name = canonical_name(kind, normal.name)
    rule = TABLE[kind].get(name)
    if rule is None:
        translatable = ", ".join(n for n, r in TABLE[kind].items() if r.translate is not None)
        raise ConfigError(
            f"{kind} '{normal.name}' has no MONAI translation for a bundle; the {kind}s a bundle can hold: "
            f"{translatable} (docs/export.md: MONAI bundle). Remove it from the inference config or give "
            "--inference-config with a config that names only these",
            file=file,
            key_path=child(key_path, "name"),
        )
    if rule.translate is None:
        raise ConfigError(
            f"{kind} '{normal.name}' cannot go into a MONAI bundle: {rule.refused}",
            file=file,
            key_path=child(key_path, "name"),
        )
    try:
        return rule.translate(normal.args)
    except ConfigError as error:  # an argument the translation cannot carry over
        raise ConfigError(error.reason, file=file, key_path=child(key_path, "args")) from None
