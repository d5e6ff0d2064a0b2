"""Clara 4.x's implicit wiring: a config's sections → the components `factory.wiring` builds, in Clara's own terms.

Clara Train 4.0's `medl` filled in what a section does not write: the trainer gets `max_epochs` from `epochs`,
`train_data_loader` = the section's `dataloader`, `network` = `model`, `loss_function` = `loss`, `optimizer`,
`inferer`, `postprocessing` = `post_transforms`, `key_train_metric` / `additional_metrics` from `metrics` (the one
with `is_key_metric`, each under its `log_label`), `train_handlers` = `handlers` (in config order, those whose
`rank` is another process's left out), `amp` from the global `amp`; the evaluator likewise (`val_data_loader`,
`key_val_metric`, `val_handlers`). A dataset reads `data_list_file_path` / `data_file_base_dir` /
`data_list_key` through our datalist loader; `ValidationHandler` validates with `@evaluator`; `CheckpointSaver`'s
and `CheckpointLoader`'s lists of names mean those objects. Everything written explicitly wins.

`@name` in the `validate` section means its own component, else the `train` section's (`@model`); `@evaluator`
in `train` means the validate section's evaluator.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from clara_tlt.config.clara4 import CLARA4_SLOTS, modernise
from clara_tlt.config.keypath import child
from clara_tlt.config.suggest import did_you_mean
from clara_tlt.data.datalist import load_datalist, shard_entries
from clara_tlt.errors import ConfigError
from clara_tlt.factory.wiring import Component

# A section's component keys → Clara 4.x kind (config.clara4's slot table); metrics are gathered apart.
KINDS = {slot: kind for slot, kind in CLARA4_SLOTS.items() if kind != "metric"}
METRIC_KEYS = tuple(slot for slot, kind in CLARA4_SLOTS.items() if kind == "metric")
DATALIST_KEYS = ("data_list_file_path", "data_file_base_dir", "data_list_key")
# Engine argument → the section component Clara 4.x passed to it.
ENGINE_WIRING = {
    "trainer": {
        "train_data_loader": "dataloader",
        "network": "model",
        "optimizer": "optimizer",
        "loss_function": "loss",
        "inferer": "inferer",
        "postprocessing": "post_transforms",
        "key_train_metric": "key_metric",
        "additional_metrics": "additional_metrics",
        "train_handlers": "handlers",
    },
    "evaluator": {
        "val_data_loader": "dataloader",
        "network": "model",
        "inferer": "inferer",
        "postprocessing": "post_transforms",
        "key_val_metric": "key_metric",
        "additional_metrics": "additional_metrics",
        "val_handlers": "handlers",
    },
}
TRAIN_DATASET = "train.dataset"  # the dataset torchrun's processes split
EVAL_DATASET = "dataset"  # a validation or inference config's dataset, which `--shard I/N` splits
TRAIN_CONF = "train_conf"  # the name CheckpointSaver's save_dict gives the config itself
# MONAI handlers built as ours (engines/clara4/handlers.py): the same arguments, our checkpoint trust rules.
REPLACED = {
    name: f"clara_tlt.engines.clara4.handlers.{name}" for name in ("CheckpointSaver", "CheckpointLoader")
}
# Handlers whose constructor opens an event file in `log_dir` unless given a `summary_writer`.
TENSORBOARD = frozenset({"TensorBoardStatsHandler", "TensorBoardImageHandler"})


@dataclass(frozen=True)
class Globals:
    """What the wiring reads from the config's globals and the run: epochs, validation interval, AMP, rank."""

    epochs: int
    interval: int
    amp: bool
    device: Any
    rank: int
    world_size: int = 1  # torchrun's processes: the training list is split between them
    dry: bool = False  # a dry run: build everything, write nothing (TensorBoard handlers get no file writer)
    # `--shard I/N`: the evaluator's list is shard I of N (docs/scale-out.md)
    shard: tuple[int, int] | None = None


def section_components(
    section: Mapping[str, Any], *, name: str, path: str, file: str, run: Globals, outer: Mapping[str, str]
) -> list[Component]:
    """The components of one section (`name`: "train", "validate", or "eval" for a validation config's top level,
    `path` its key path); `outer` maps the `@name`s another section provides to their ids."""
    unknown = [k for k in section if k not in KINDS and k not in METRIC_KEYS]
    if path and unknown:
        known = [*KINDS, *METRIC_KEYS]
        raise ConfigError(
            f"unknown key '{unknown[0]}' in a Clara 4.x section{did_you_mean(unknown[0], known) or '.'} "
            f"Keys a section may hold: {', '.join(known)}",
            file=file,
            key_path=child(path, unknown[0]),
        )
    metrics = _metric_entries(section, path=path, file=file)
    own = {key: f"{name}.{key}" for key in KINDS if key in section}
    own |= {f"_metric_{i}": f"{name}._metric_{i}" for i in range(len(metrics))}
    if metrics:
        own |= {"key_metric": f"{name}.key_metric", "additional_metrics": f"{name}.additional_metrics"}
    scope = {**outer, **own}
    components = [
        Component(f"{name}._metric_{i}", key_path, "metric", spec, scope)
        for i, (key_path, spec, _, _) in enumerate(metrics)
    ]
    if metrics:
        components += _metric_dicts(metrics, name=name, scope=scope)
    for key in KINDS:
        if key in section:
            spec = _wired(key, section[key], scope, run=run, file=file, key_path=child(path, key))
            components.append(Component(f"{name}.{key}", child(path, key), KINDS[key], spec, scope))
    return components


def _metric_entries(
    section: Mapping[str, Any], *, path: str, file: str
) -> list[tuple[str, dict[str, Any], str, bool]]:
    """(key path, spec without Clara's attributes, log_label, is key) of 4.0's `metrics` list and of
    `key_metric` / `additional_metrics`."""
    written: list[tuple[str, Any, bool | None]] = []
    for index, spec in enumerate(section.get("metrics") or []):
        written.append((child(child(path, "metrics"), index), spec, None))
    if "key_metric" in section:
        written.append((child(path, "key_metric"), section["key_metric"], True))
    for index, spec in enumerate(section.get("additional_metrics") or []):
        written.append((child(child(path, "additional_metrics"), index), spec, False))
    entries = []
    for key_path, spec, is_key in written:
        if not isinstance(spec, Mapping):
            raise ConfigError(
                "a metric must be a component with a name and args", file=file, key_path=key_path
            )
        label = spec.get("log_label") or spec.get("name") or spec.get("path")
        key = bool(spec.get("is_key_metric", False)) if is_key is None else is_key
        plain = {k: v for k, v in spec.items() if k not in ("log_label", "is_key_metric")}
        entries.append((key_path, plain, str(label), key))
    if entries and not any(e[3] for e in entries):
        first = entries[0]
        entries[0] = (first[0], first[1], first[2], True)  # Clara: the first metric when none is marked
    if sum(e[3] for e in entries) > 1:
        raise ConfigError(
            "more than one metric has is_key_metric: true; mark one",
            file=file,
            key_path=child(path, "metrics"),
        )
    return entries


def _metric_dicts(
    metrics: list[tuple[str, dict[str, Any], str, bool]], *, name: str, scope: Mapping[str, str]
) -> list[Component]:
    """`key_metric` and `additional_metrics`: {log_label: metric}, what MONAI's engines take."""
    key = {label: f"@_metric_{i}" for i, (_, _, label, is_key) in enumerate(metrics) if is_key}
    more = {label: f"@_metric_{i}" for i, (_, _, label, is_key) in enumerate(metrics) if not is_key}
    return [
        Component(f"{name}.key_metric", metrics[0][0], None, key, scope),
        Component(f"{name}.additional_metrics", metrics[0][0], None, more or None, scope),
    ]


def _wired(key: str, spec: Any, section: Mapping[str, Any], *, run: Globals, file: str, key_path: str) -> Any:
    """`spec` with what Clara 4.x filled in implicitly (explicit args win); `section`: the names in scope."""
    if (
        key in ENGINE_WIRING
    ):  # MONAI 0.5's `post_transform` renamed first: the implicit wiring fills the new name
        current = (
            modernise(spec, kind="engine", file=file, key_path=key_path)
            if isinstance(spec, Mapping)
            else spec
        )
        return _engine(key, current, section, run=run)
    if key == "dataset":
        return _dataset(spec, section, file=file, key_path=key_path, run=run)
    if key == "dataloader":
        return _with_args(spec, {"dataset": "@dataset"} if "dataset" in section else {})
    if key == "optimizer" and isinstance(spec, Mapping) and "model" in section:
        return _with_args(spec, {"params": "#@model.parameters()"})
    if key == "lr_scheduler":
        return _with_args(spec, {"optimizer": "@optimizer"})
    if key == "handlers" and isinstance(spec, list):
        return [h for h in (_handler(h, run=run) for h in spec) if h is not None]
    return spec


def _with_args(spec: Any, defaults: Mapping[str, Any]) -> Any:
    if not isinstance(spec, Mapping):
        return spec
    return {**spec, "args": {**defaults, **(spec.get("args") or {})}}


def _engine(key: str, spec: Any, section: Mapping[str, Any], *, run: Globals) -> Any:
    defaults: dict[str, Any] = {
        arg: f"@{source}" for arg, source in ENGINE_WIRING[key].items() if source in section
    }
    if key == "trainer":
        defaults["max_epochs"] = run.epochs
    wired = _with_args(spec, defaults)
    if not isinstance(wired, Mapping):
        return wired
    # the process's own device and AMP, whatever the config wrote
    return {**wired, "args": {**wired["args"], "device": run.device, "amp": run.amp}}


def _dataset(spec: Any, section: Mapping[str, Any], *, file: str, key_path: str, run: Globals) -> Any:
    """A dataset's datalist keys → its `data` (entries with absolute paths, every file checked: exit 4); under
    torchrun the training list is this rank's share, padded so that every rank runs as many iterations
    (validation runs the whole list on every rank: MONAI's metrics gather it, so the mean is the list's); with
    `--shard I/N` an evaluate's or infer's list is shard I of N, unpadded (each case in one shard), as in 3.x."""
    if not isinstance(spec, Mapping):
        return spec
    plain = {k: v for k, v in spec.items() if k not in DATALIST_KEYS}
    defaults: dict[str, Any] = {"transform": "@pre_transforms"} if "pre_transforms" in section else {}
    data = datalist_entries(spec, file=file, key_path=key_path)
    if data is not None:
        if key_path == TRAIN_DATASET:
            data = shard_entries(data, run.rank, run.world_size, pad=True)
        elif key_path == EVAL_DATASET and run.shard is not None:
            data = shard_entries(data, *run.shard, pad=False)
        defaults["data"] = data
    return _with_args(plain, defaults)


def datalist_entries(spec: Any, *, file: str, key_path: str) -> list[dict[str, Any]] | None:
    """The whole list a dataset's datalist keys name (absolute paths, every file checked: exit 4); None when the
    dataset names no datalist file."""
    datalist = spec.get("data_list_file_path") if isinstance(spec, Mapping) else None
    if not datalist:
        return None
    if not isinstance(datalist, str):
        where = child(key_path, "data_list_file_path")
        raise ConfigError("must be the path of a datalist.json", file=file, key_path=where)
    key = spec.get("data_list_key") or "training"
    return load_datalist(datalist, key, base_dir=spec.get("data_file_base_dir") or None)


def _handler(spec: Any, *, run: Globals) -> Any:
    """A handler of this process (`"rank"` another's: None), with Clara's implicit arguments."""
    if not isinstance(spec, Mapping):
        return spec
    rank = spec.get("rank")
    if rank is not None and rank != run.rank:
        return None
    plain = {k: v for k, v in spec.items() if k != "rank"}
    name = plain.get("name")
    if name == "ValidationHandler":
        return _with_args(plain, {"validator": "@evaluator", "interval": run.interval, "epoch_level": True})
    if name in TENSORBOARD and run.dry:
        return {**plain, "args": {**(plain.get("args") or {}), "summary_writer": object()}}
    if name == "LrScheduleHandler":
        return _with_args(plain, {"lr_scheduler": "@lr_scheduler"})
    if name in REPLACED and "path" not in plain:
        field = "save_dict" if name == "CheckpointSaver" else "load_dict"
        args = dict(plain.get("args") or {})
        if isinstance(args.get(field), list):
            args[field] = {n: f"@{n}" for n in args[field]}
        return {**{k: v for k, v in plain.items() if k != "name"}, "path": REPLACED[name], "args": args}
    return plain
