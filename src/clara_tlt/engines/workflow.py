"""Build every component a resolved config names, in dependency order: the setup shared by train, evaluate,
infer and `--dry-run`.

A config has components at the top level (validation/inference configs, the EA form's `net_config`) and in
its `train` and `validate` sections. The network is built first, so the optimizer gets its parameters, the
lr policy its optimizer, and each image pipeline its section's pre-transforms. A `{"ref": "Class#instance"}`
in a slot reuses the component the config defined under that name earlier (clara_tlt.config.references).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clara_tlt.config.component_spec import normalize_spec
from clara_tlt.config.keypath import child
from clara_tlt.config.loader import ResolvedConfig
from clara_tlt.config.references import Definitions, reference_of
from clara_tlt.config.slots import LIST_SLOTS, NETWORK_SLOTS, SECTIONS, SLOT_KINDS, network_spec
from clara_tlt.data.batching import WithBatchTransforms
from clara_tlt.data.checks import check_entries, loaded_fields, network_classes
from clara_tlt.data.datalist import load_datalist
from clara_tlt.engines.checkpoint import network_inject
from clara_tlt.errors import ConfigError, NoInputError
from clara_tlt.factory.registry import build

log = logging.getLogger(__name__)


@dataclass
class BuiltComponent:
    """One component: where it stands in the config, what it was called, and the object."""

    key_path: str
    kind: str
    name: str
    obj: Any


@dataclass
class DatalistUse:
    """A datalist list a workflow reads, resolved and checked."""

    file: str
    key: str
    base_dir: str
    entries: list[dict[str, Any]]


@dataclass
class Workflow:
    """The built components of a config, by key path, plus the datalists it reads."""

    config: ResolvedConfig
    components: dict[str, BuiltComponent] = field(default_factory=dict)
    datalists: list[DatalistUse] = field(default_factory=list)

    def get(self, key_path: str) -> Any:
        """The object built at `key_path` (`train.model`, `validate.metrics`), or None."""
        found = self.components.get(key_path)
        return found.obj if found else None

    def describe(self) -> dict[str, Any]:
        """A JSON-ready summary: resolved globals, each component's kind and name, and each datalist."""
        return {
            "config": self.config.file,
            "globals": {name: self.config.data.get(name) for name in self.config.global_names},
            "components": [
                {"key_path": c.key_path, "kind": c.kind, "name": c.name, "type": _type_name(c.obj)}
                for c in self.components.values()
            ],
            "datalists": [
                {"file": d.file, "key": d.key, "base_dir": d.base_dir, "entries": len(d.entries)}
                for d in self.datalists
            ],
        }


def _type_name(obj: Any) -> str:
    if isinstance(obj, list):
        return "[" + ", ".join(_type_name(o) for o in obj) + "]"
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def build_workflow(
    config: ResolvedConfig, *, default_data_list_key: str = "validation", shard: tuple[int, int] | None = None
) -> Workflow:
    """Build every component of `config` and check every datalist it reads.

    All component errors are collected and raised together as one `ConfigError` (exit 3), so a user fixes
    them in one pass; missing data files then raise `NoInputError` (exit 4). A config without any
    `image_pipeline` reads `DATASET_JSON` / `DATA_ROOT` / `DATA_LIST_KEY` from its variables.
    `shard` `(rank, world_size)` (torchrun) gives each image pipeline its rank's share as soon as it is built,
    so what counts its batches (an lr policy's steps per epoch) counts this rank's; training shards are padded
    to equal length, validation shards are not.
    """
    workflow = Workflow(config)
    errors: list[str] = []
    definitions = Definitions(config.file)
    for section in SECTIONS:
        body = config.data if section == "" else config.data.get(section)
        if not isinstance(body, dict):
            continue
        for slot, kind in SLOT_KINDS.items():
            if slot in body:
                errors += _add_component(workflow, section, slot, kind, body[slot], definitions, shard)
    if errors:
        raise ConfigError(f"{len(errors)} problem(s) in the config:\n" + "\n".join(f"- {e}" for e in errors))
    workflow.datalists = _datalists(workflow, default_data_list_key)
    return workflow


def _add_component(
    workflow: Workflow,
    section: str,
    slot: str,
    kind: str,
    spec: Any,
    definitions: Definitions,
    shard: tuple[int, int] | None,
) -> list[str]:
    """Build one slot of a section into the workflow; returns its problems (none when it was built)."""
    config = workflow.config
    key_path = child(section, slot)
    inject = _inject(slot, section, workflow, config, _last_network(workflow))
    if inject is None:
        return [f"{config.file}: {key_path}: not built because the network or optimizer it needs failed"]
    spec, problem = _one_component(spec, slot, config=config, key_path=key_path)
    if problem:
        return [problem]
    problems: list[str] = []
    search_dirs = list(config.search_dirs)
    if slot == "image_pipeline":  # Clara 3.1 writes batch_transforms among the pipeline's args
        spec, problems = _lift_batch_transforms(spec, section, workflow, definitions, search_dirs)
    built, more = _build_slot(
        spec,
        kind,
        config=config,
        key_path=key_path,
        inject=inject,
        search_dirs=search_dirs,
        definitions=definitions,
    )
    if built is not None:
        if slot == "image_pipeline":
            built.obj = _ready_pipeline(built.obj, section, workflow, shard)
        workflow.components[key_path] = built
    return problems + more


def _last_network(workflow: Workflow) -> Any:
    """The network built last (an optimizer takes its parameters), None before any."""
    networks = [c.obj for c in workflow.components.values() if c.kind == "network"]
    return networks[-1] if networks else None


def _ready_pipeline(pipeline: Any, section: str, workflow: Workflow, shard: tuple[int, int] | None) -> Any:
    """An image pipeline told the label classes, given this rank's share (`shard`: training shards padded to
    equal length, validation ones not) and wrapped with its section's batch transforms."""
    pipeline.label_classes = network_classes(workflow.config.data)
    if shard is not None:
        pipeline.shard(*shard, pad=section == "train")
    batch_transforms = workflow.get(child(section, "batch_transforms"))
    return WithBatchTransforms(pipeline, batch_transforms) if batch_transforms else pipeline


def _lift_batch_transforms(
    spec: Any, section: str, workflow: Workflow, definitions: Definitions, search_dirs: list[Path]
) -> tuple[Any, list[str]]:
    """Build the `batch_transforms` of an image pipeline's args as the section's `batch_transforms`; the spec
    is returned without them. Both places at once is an error (which list would run first?)."""
    if (
        not isinstance(spec, dict)
        or not isinstance(spec.get("args"), dict)
        or "batch_transforms" not in spec["args"]
    ):
        return spec, []
    config = workflow.config
    key_path = child(child(child(section, "image_pipeline"), "args"), "batch_transforms")
    slot_path = child(section, "batch_transforms")
    if slot_path in workflow.components:
        return spec, [
            f"{config.file}: {key_path}: batch transforms are also given at {slot_path}; keep one list"
        ]
    args = dict(spec["args"])
    built, problems = _build_slot(
        args.pop("batch_transforms") or [],
        "transform",
        config=config,
        key_path=key_path,
        inject={},
        search_dirs=search_dirs,
        definitions=definitions,
    )
    if built is not None:
        workflow.components[slot_path] = built
    return {**spec, "args": args}, problems


def eval_output_dir(config: ResolvedConfig) -> Path | None:
    """Where infer/evaluate write: MMAR_EVAL_OUTPUT_PATH (`--output_path`), else the MMAR's `eval/` folder."""
    chosen = config.variables.get("MMAR_EVAL_OUTPUT_PATH")
    if chosen:
        return Path(chosen)
    return config.mmar_root / "eval" if config.mmar_root is not None else None


def _inject(
    slot: str, section: str, workflow: Workflow, config: ResolvedConfig, model: Any
) -> dict[str, Any] | None:
    """Runtime objects a slot needs; None when what it needs could not be built."""
    if slot in NETWORK_SLOTS:
        return network_inject(config.data)
    if slot == "optimizer":
        if model is None:
            return None
        inject: dict[str, Any] = {"params": model.parameters()}
        if config.get("learning_rate") is not None:
            inject["lr"] = config.get("learning_rate")
        weight_decay = _model_weight_decay(config)
        if weight_decay is not None:
            inject["weight_decay"] = weight_decay
        return inject
    if slot == "lr_policy":
        optimizer = workflow.get(child(section, "optimizer"))
        if optimizer is None:
            return None
        inject = {"optimizer": optimizer, "epochs": int(config.get("epochs") or 1)}
        pipeline = workflow.get(child(section, "image_pipeline"))
        if pipeline is not None:
            inject["steps_per_epoch"] = max(1, len(pipeline))
        return inject
    if slot == "image_pipeline":
        return {"transforms": workflow.get(child(section, "pre_transforms")) or []}
    if slot in ("writers", "writer"):  # a writer without write_path writes where evaluate reports
        folder = eval_output_dir(config)
        return {} if folder is None else {"write_path": str(folder)}
    if slot == "aux_ops":  # NegLoss scores the loss; the validate section has none of its own
        loss = workflow.get(child(section, "loss")) or workflow.get("train.loss")
        return {} if loss is None else {"loss": loss}
    return {}


MODEL_L2_ARGS = ("weight_decay", "reg_weight")  # DenseNet121's; SegResnet's and Alexnet's


def _model_weight_decay(config: ResolvedConfig) -> float | None:
    """Clara put L2 regularisation on the model (`model.args.weight_decay`, `reg_weight`); torch puts it on the
    optimizer (TensorFlow's l2 loss Σw²/2 scaled by λ has the gradient λw, torch's weight decay λ)."""
    spec = network_spec(config.data)[0]
    if isinstance(spec, dict):
        args = spec.get("args", spec)
        for name in MODEL_L2_ARGS:
            if isinstance(args, dict) and isinstance(args.get(name), (int, float)) and args[name]:
                return float(args[name])
    return None


def _one_component(spec: Any, slot: str, *, config: ResolvedConfig, key_path: str) -> tuple[Any, str | None]:
    """A one-component slot given as a list (AutoML configs list alternatives to search between): the first
    left after `disabled` ones are dropped, as a plain run uses it (a note names the others); none is a problem."""
    if slot in LIST_SLOTS or not isinstance(spec, list):
        return spec, None
    if not spec:
        return spec, (
            f"{config.file}: {key_path}: every component is disabled, but a training run uses one: "
            'remove "disabled": true from one'
        )
    if len(spec) > 1:
        others = ", ".join(_label(s) for s in spec[1:])
        log.info(
            "%s: %s: lists %d alternatives (an AutoML search space); this run uses the first, %s, not %s",
            config.file,
            key_path,
            len(spec),
            _label(spec[0]),
            others,
        )
    return spec[0], None


def _label(spec: Any) -> str:
    """How a component is named in a message: its name, path or ref."""
    return (
        str(spec.get("name") or spec.get("path") or spec.get("ref")) if isinstance(spec, dict) else str(spec)
    )


def _build_slot(
    spec: Any,
    kind: str,
    *,
    config: ResolvedConfig,
    key_path: str,
    inject: dict[str, Any],
    search_dirs: list[Path],
    definitions: Definitions,
) -> tuple[BuiltComponent | None, list[str]]:
    """Build a slot (one spec or a list of them); every failing item is reported, not only the first.

    Each built item is defined under its config name for later refs; a ref item reuses such an object.
    """
    items = list(enumerate(spec)) if isinstance(spec, list) else [(None, spec)]
    objects, names, problems = [], [], []
    for index, item in items:
        item_path = key_path if index is None else child(key_path, index)
        try:
            ref = reference_of(item, file=config.file, key_path=item_path)
            if ref is not None:
                objects.append(definitions.lookup(ref, kind=kind, key_path=item_path))
                names.append(ref)
                continue
            label = normalize_spec(item, file=config.file, key_path=item_path).label
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        try:
            obj = build(
                item, kind, file=config.file, key_path=item_path, inject=inject, search_dirs=search_dirs
            )
        except ConfigError as exc:
            problems.append(str(exc))
            obj = None
        definitions.define(label, key_path=item_path, kind=kind, obj=obj)
        objects.append(obj)
        names.append(label)
    if problems:
        return None, problems
    if isinstance(spec, list):
        return BuiltComponent(key_path, kind, ", ".join(names), objects), []
    return BuiltComponent(key_path, kind, names[0], objects[0]), []


def _datalists(workflow: Workflow, default_key: str) -> list[DatalistUse]:
    """The datalists the image pipelines name, or the environment's DATASET_JSON when no pipeline names one;
    each is checked against the fields its section's loaders read (clara_tlt.data.checks)."""
    config = workflow.config
    uses: list[tuple[str, str, str, str | None]] = []
    for section in ("train", "validate"):
        body = config.data.get(section)
        pipeline = body.get("image_pipeline") if isinstance(body, dict) else None
        if (
            isinstance(pipeline, dict) and "ref" not in pipeline
        ):  # a ref reuses a pipeline checked where defined
            args = normalize_spec(pipeline, file=config.file, key_path=child(section, "image_pipeline")).args
            if args.get("data_list_file_path"):
                key = args.get("data_list_key") or ("training" if section == "train" else "validation")
                uses.append((section, args["data_list_file_path"], key, args.get("data_file_base_dir")))
    if not uses and config.variables.get("DATASET_JSON"):
        key = config.variables.get("DATA_LIST_KEY") or default_key
        uses.append(("", config.variables["DATASET_JSON"], key, config.variables.get("DATA_ROOT") or None))
    result, problems = [], []
    for section, file, key, base_dir in uses:
        entries = load_datalist(file, key, base_dir=base_dir)
        loader = child(section, "pre_transforms")
        fields = loaded_fields(workflow.get(loader) or [])
        try:  # grids are compared for training; evaluate fails a misfit case alone (exit 5)
            check_entries(
                entries,
                fields,
                datalist=str(file),
                key=key,
                config_file=config.file,
                loader=loader,
                compare_grids=bool(section),
            )
        except NoInputError as exc:  # every list's problems at once
            problems.append(str(exc))
        result.append(DatalistUse(file, key, str(base_dir or Path(file).parent), entries))
    if problems:
        raise NoInputError("\n".join(problems))
    return result
