"""A Clara 4.x inference config (MONAI components already) → the components of a MONAI bundle, and its check.

Clara 4.x configs name MONAI classes, so nothing is translated: each component is brought to MONAI 1.6's names
and arguments (`modernise`, as our 4.x engine builds it) and passed through as `_target_` with its arguments.
`@name` references become the bundle's ids (`@pre_transforms` → `@preprocessing`), `#` expressions MONAI's `$`
expressions and `lambda x: …` strings (already held to indexing and attributes by our allow-list) `$lambda x: …`,
which MONAI evaluates to the same function. The data list becomes the Model Zoo's `dataset_dir` glob,
`SaveImaged`'s `output_dir` the bundle's `output_dir`. What is not MONAI's (a `path` into custom/, one of our
own classes) is refused with exit 3 naming the key; the network alone goes in as TorchScript (bundle.py).

>>> translate(load_config("config/config_inference.json").data, file="config_inference.json", out_channels=2)
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from clara_tlt.config.clara4 import is_clara4, modernise, references_in
from clara_tlt.config.clara4.expressions import EXPRESSION, LAMBDA, REFERENCE
from clara_tlt.config.clara4.lambdas import parse_lambda
from clara_tlt.config.clara4.refusal import Where
from clara_tlt.config.jsonfile import read_json
from clara_tlt.config.keypath import child
from clara_tlt.config.loader import ResolvedConfig
from clara_tlt.engines.checkpoint import ConfigNetwork
from clara_tlt.errors import ClaraError, ConfigError
from clara_tlt.export.bundle_config import Translation
from clara_tlt.export.bundle_table import OUTPUT_DIR, Spec
from clara_tlt.export.bundle_verify import AGREEMENT, CASE, TAIL_CHARS, bundle_command
from clara_tlt.factory.registry import FALLBACKS

INFERENCE_CONFIG = "config/config_inference.json"
# A 4.x section's `@name`s → the ids the bundle's inference.json gives the same objects.
BUNDLE_IDS = {
    "pre_transforms": "preprocessing",
    "post_transforms": "postprocessing",
    "model": "network",
    "inferer": "inferer",
    "dataset": "dataset",
    "dataloader": "dataloader",
}
# Replaced by the bundle's own (its data list, its evaluator, its CheckpointLoader) or left out (scoring).
LEFT_OUT = ("dataset", "dataloader", "evaluator", "handlers", "metrics", "key_metric", "additional_metrics")
MONAI_PREFIXES = ("$", "%")  # a plain string starting so would be evaluated, or looked up, by MONAI's parser
LIBRARIES = {"transform": FALLBACKS["transform"], "inferer": FALLBACKS["inferer"]}


def default_config(mmar: Path) -> str | None:
    """`config/config_inference.json` when the MMAR has one written for Clara 4.x (it is what a 4.x MMAR's
    infer runs and writes predictions with); None: the usual `config/config_validation.json`."""
    path = mmar / INFERENCE_CONFIG
    return INFERENCE_CONFIG if path.is_file() and is_clara4(read_json(path)) else None


def network_spec(config: ResolvedConfig) -> ConfigNetwork | None:
    """The inference config's own `model` in MONAI 1.6's names (what our 4.x infer builds), if it has one."""
    model = _body(config.data).get("model")
    if not isinstance(model, Mapping):
        return None
    key_path = child(_section(config.data), "model")
    spec = modernise(model, kind="network", file=config.file, key_path=key_path)
    return ConfigNetwork(spec, config.file, key_path)


def _section(data: Mapping[str, Any]) -> str:
    """Where the predicting body stands: a validation or inference config's top level (""), else a training
    config's `validate` section."""
    return "" if "pre_transforms" in data else "validate"


def _body(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """A validation or inference config's top level, else a training config's `validate` section."""
    section = _section(data)
    return (data.get(section) or {}) if section else data


def translate(data: Mapping[str, Any], *, file: str, out_channels: int) -> Translation:
    """The bundle's components of a 4.x config: pre-transforms, inferer, post-transforms (exit 3 on the first
    that a bundle without clara_tlt cannot build, or a config that writes no predictions)."""
    section = _section(data)
    body = _body(data)
    absent = _label_keys(body.get("pre_transforms") or [])
    result = Translation(left_out=[child(section, k) for k in LEFT_OUT if k in body])

    def each(slot: str, kind: str) -> list[Spec]:
        specs = body.get(slot) or []
        listed = isinstance(specs, list)
        out = []
        for index, spec in enumerate(specs if listed else [specs]):
            where = child(child(section, slot), index) if listed else child(section, slot)
            made = _component(spec, kind, absent, file=file, key_path=where)
            result.components.append((str(spec.get("name") or spec.get("path")), made["_target_"]))
            out.append(made)
        return out

    result.preprocessing = each("pre_transforms", "transform")
    if body.get("inferer"):
        result.inferer = each("inferer", "inferer")[0]
    result.postprocessing = each("post_transforms", "transform")
    if any(
        s.get("allow_missing_keys") for s in result.postprocessing
    ):  # MONAI's evaluator writes label: None
        result.postprocessing.insert(0, {"_target_": "DeleteItemsd", "keys": sorted(absent)})
    if not any(s["_target_"].endswith("SaveImaged") for s in result.postprocessing):
        raise ConfigError(
            "writes no predictions (no SaveImaged in post_transforms), so its bundle would write nothing; give "
            f"--inference-config {INFERENCE_CONFIG} (Clara 4.x's inference config), or add "
            '{"name": "SaveImaged", "args": {"keys": "pred", "output_dir": "{MMAR_EVAL_OUTPUT_PATH}"}}',
            file=file,
            key_path=child(section, "post_transforms"),
        )
    return result


def _label_keys(pre_transforms: list[Any]) -> set[str]:
    """The keys the config loads besides `image` (labels): the bundle's data list has images only."""
    loaded: set[str] = set()
    for spec in pre_transforms:
        if isinstance(spec, Mapping) and str(spec.get("name", "")).startswith("Load"):
            loaded |= set(_keys((spec.get("args") or {}).get("keys")))
    return loaded - {"image"}


def _keys(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [k for k in value or [] if isinstance(k, str)]


def _component(spec: Any, kind: str, absent: set[str], *, file: str, key_path: str) -> Spec:
    """One component as the bundle writes it: MONAI 1.6's class as `_target_`, its arguments in bundle terms."""
    if not isinstance(spec, Mapping):
        raise ConfigError(f'a {kind} must be {{"name": ..., "args": {{...}}}}', file=file, key_path=key_path)
    current = modernise(spec, kind=kind, file=file, key_path=key_path)
    target = _target(current, kind, file=file, key_path=key_path)
    args = dict(_bundle_value(current.get("args") or {}, file=file, key_path=child(key_path, "args")))
    if absent & set(_keys(args.get("keys"))):  # a label: skipped, as MONAI skips a missing key it may miss
        args["allow_missing_keys"] = True
    if target.endswith("SaveImaged"):
        args["output_dir"] = OUTPUT_DIR
        default = inspect.signature(_class(target)).parameters["output_postfix"].default
        args.setdefault("output_postfix", default)  # said: the verification looks for the files by it
    return {"_target_": target, **args}


def _target(spec: Mapping[str, Any], kind: str, *, file: str, key_path: str) -> str:
    """MONAI's class the spec names: its short name where MONAI's bundle parser finds exactly it, else its path."""
    path = spec.get("path")
    if isinstance(path, str):
        if path.startswith("monai."):
            return path
        raise ConfigError(
            f"{kind} path '{path}' is your own code, which a bundle without clara_tlt cannot build; name a MONAI "
            "class instead, or give --inference-config with a config that does",
            file=file,
            key_path=child(key_path, "path"),
        )
    name = str(spec.get("name"))
    for module in LIBRARIES[kind]:
        found = getattr(importlib.import_module(module), name, None)
        if inspect.isclass(found):
            return name if _located(name) is found else f"{module}.{name}"
    raise ConfigError(
        f"{kind} '{name}' is not a MONAI class (ours, or unknown), so a bundle without clara_tlt cannot build it; "
        "name the MONAI component that does the same, or give --inference-config with a config that does",
        file=file,
        key_path=child(key_path, "name"),
    )


def _located(name: str) -> Any:
    """The class MONAI's bundle parser finds for a short `_target_` (None where none or several)."""
    from monai.bundle.config_item import ComponentLocator

    module = ComponentLocator().get_component_module_name(name)
    return getattr(importlib.import_module(module), name, None) if isinstance(module, str) else None


def _class(target: str) -> Any:
    module, _, name = target.rpartition(".")
    return getattr(importlib.import_module(module), name) if module else _located(name)


def _bundle_value(value: Any, *, file: str, key_path: str) -> Any:
    """`value` in MONAI bundle syntax: `@name` → `@id`, `#…` → `$…`, `lambda x: …` → `$lambda x: …`."""
    if isinstance(value, Mapping):
        return {k: _bundle_value(v, file=file, key_path=child(key_path, str(k))) for k, v in value.items()}
    if isinstance(value, list):
        return [_bundle_value(v, file=file, key_path=child(key_path, i)) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value
    if value.startswith(REFERENCE):
        return REFERENCE + _bundle_id(value[1:], file=file, key_path=key_path)
    if value.startswith(EXPRESSION):
        text = value[1:]
        for name in sorted(references_in(value), key=len, reverse=True):
            text = text.replace(REFERENCE + name, REFERENCE + _bundle_id(name, file=file, key_path=key_path))
        return "$" + text
    if LAMBDA.match(value):
        parse_lambda(value, Where(file=file, key_path=key_path, text=value))  # indexing and attributes only
        return "$" + value.strip()
    if value.startswith(MONAI_PREFIXES):
        raise ConfigError(
            f"'{value}' starts with '{value[0]}', which MONAI's bundle parser would evaluate rather than pass on; "
            "a bundle cannot hold this string as it is",
            file=file,
            key_path=key_path,
        )
    return value


def _bundle_id(name: str, *, file: str, key_path: str) -> str:
    if name not in BUNDLE_IDS:
        raise ConfigError(
            f"'@{name}' has no counterpart in a bundle's inference config; references a bundle can hold: "
            f"{', '.join('@' + n for n in BUNDLE_IDS)}",
            file=file,
            key_path=key_path,
        )
    return BUNDLE_IDS[name]


def verify(
    bundle: Path, config: ResolvedConfig, *, checkpoint: Path, fields: Sequence[str], shape: tuple[int, ...]
) -> list[dict[str, Any]]:
    """Run the bundle (MONAI without clara_tlt) and our 4.x evaluator with `config` and `checkpoint` on one
    synthetic volume of `shape`; per SaveImaged postfix in `fields`, the share of voxels that agree. Raises
    `ClaraError` (exit 1) when the bundle fails to run, a file is missing, or agreement is below `AGREEMENT`."""
    with tempfile.TemporaryDirectory(prefix="clara_tlt_bundle_check_") as folder:
        work = Path(folder)
        datalist = _synthetic_case(work, shape)
        _our_run(config, checkpoint, datalist, work / "ours")
        ran = subprocess.run(
            bundle_command(bundle, work / "image", work / "theirs"),
            capture_output=True,
            text=True,
            cwd=work,
            check=False,
        )
        if ran.returncode != 0:
            raise ClaraError(
                "verification failed: the bundle's inference config did not run under MONAI without clara_tlt "
                f"(exit {ran.returncode}); nothing was written. Its output ends:\n"
                f"{(ran.stdout + ran.stderr)[-TAIL_CHARS:]}"
            )
        return [_compared(field, work / "ours", work / "theirs") for field in fields]


def _synthetic_case(work: Path, shape: tuple[int, ...]) -> Path:
    """`work/image/verify_case.nii.gz` (the only file the bundle's glob sees), its label, their datalist."""
    from clara_tlt.synthetic.dataset import write_nifti
    from clara_tlt.synthetic.volumes import make_case

    case = make_case(shape, seed=0)  # type: ignore[arg-type]
    entry = {}
    for key, array in (("image", case.image), ("label", case.label)):
        (work / key).mkdir()
        entry[key] = str(work / key / f"{CASE}.nii.gz")
        write_nifti(array, case.affine, Path(entry[key]))
    path = work / "datalist.json"
    path.write_text(json.dumps({"validation": [entry]}))
    return path


def _our_run(config: ResolvedConfig, checkpoint: Path, datalist: Path, output: Path) -> None:
    """Our 4.x evaluator on the config as written, but reading `datalist`, loading `checkpoint` and writing into
    `output`; handlers other than CheckpointLoader are left out (they would write into the MMAR)."""
    from clara_tlt.engines.clara4.run import evaluate

    data = json.loads(json.dumps(config.data))
    body = data if "pre_transforms" in data else data["validate"]
    body["dataset"] = {**body.get("dataset", {}), "data_list_file_path": str(datalist)}
    body["dataset"] |= {"data_file_base_dir": "", "data_list_key": "validation"}
    body["handlers"] = [
        {**h, "args": {**h.get("args", {}), "load_path": str(checkpoint)}}
        for h in body.get("handlers") or []
        if isinstance(h, dict) and h.get("name") == "CheckpointLoader"
    ]
    for spec in body.get("post_transforms") or []:
        if isinstance(spec, dict) and str(spec.get("name") or spec.get("path")).endswith("SaveImaged"):
            spec["args"] = {**spec.get("args", {}), "output_dir": str(output)}
    variables = {**config.variables, "MMAR_EVAL_OUTPUT_PATH": str(output)}
    try:
        evaluate(dataclasses.replace(config, data=data, variables=variables))
    except ClaraError:
        raise
    except Exception as error:  # MONAI's own failure, deep in a transform: say whose run it was
        cause: BaseException = error
        while cause.__cause__ is not None:  # MONAI wraps it once per Compose and transform
            cause = cause.__cause__
        raise ClaraError(
            f"verification failed: clara-tlt's own inference with {config.file} fails on a synthetic case "
            f"({type(cause).__name__}: {cause}), so there is nothing to compare the bundle with; make "
            "`clara-tlt infer` run this config first. Nothing was written"
        ) from error


def _compared(field: str, ours: Path, theirs: Path) -> dict[str, Any]:
    """The share of voxels where the bundle's file of SaveImaged postfix `field` agrees with ours."""
    import numpy as np

    from clara_tlt.io.arrays import read_array

    mine = sorted(ours.rglob(f"*_{field}.*"))
    written = [theirs / p.relative_to(ours) for p in mine]
    if not mine or not all(p.is_file() for p in written):
        raise ClaraError(
            f"verification failed: the bundle wrote no file for SaveImaged '{field}' where clara-tlt infer wrote "
            f"{', '.join(str(p.relative_to(ours)) for p in mine) or 'none'}; nothing was written"
        )
    (a, affine_a), (b, affine_b) = read_array(mine[0]), read_array(written[0])
    if a.shape != b.shape or not np.allclose(affine_a, affine_b, atol=1e-4):
        raise ClaraError(
            f"verification failed: the bundle's '{field}' lies on another grid than ours (shape {b.shape}, ours "
            f"{a.shape}; or another affine); nothing was written"
        )
    agreement = float(np.mean(np.asarray(a) == np.asarray(b)))
    if agreement < AGREEMENT:
        raise ClaraError(
            f"verification failed: the bundle's '{field}' agrees with clara-tlt infer on {agreement:.4%} of the "
            f"voxels (at least {AGREEMENT:.1%} needed); nothing was written"
        )
    return {"field": field, "voxels": int(a.size), "agreement": agreement}
