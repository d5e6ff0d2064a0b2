"""Build the components of a Clara 4.x config in the order their `@` references need, through the one factory.

A Clara 4.x component names another by `"@name"` (`"dataset": "@dataset"`) or in an expression
(`"params": "#@model.parameters()"`). `build_components` orders the components so that each is built after
everything it refers to (a cycle is exit 3 naming its keys), updates each spec to the installed MONAI's names
(`modernise`, one log line per rename), resolves its arguments against the objects built so far (`resolve_value`:
no `eval`) and builds it with `registry.build`: unknown names get did-you-mean with file and key, a model file's
specs stay data.

    built = build_components(
        [Component("model", "train.model", "network", {"name": "UNet", "args": {...}}, scope={}),
         Component("optimizer", "train.optimizer", "optimizer",
                   {"name": "Adam", "args": {"params": "#@model.parameters()"}}, scope={"model": "model"})],
        file="config_train.json",
    )
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clara_tlt.config.clara4 import modernise, references_in, resolve_value
from clara_tlt.config.keypath import child
from clara_tlt.config.suggest import did_you_mean
from clara_tlt.errors import ConfigError
from clara_tlt.factory.registry import FALLBACKS, build

# Clara 4.x's component kinds (what `modernise` knows) → the factory's kinds.
REGISTRY_KINDS = {
    "network": "network",
    "transform": "transform",
    "loss": "loss",
    "metric": "ignite_metric",
    "handler": "monai_handler",
    "inferer": "inferer",
    "dataset": "dataset",
    "dataloader": "dataloader",
    "optimizer": "optimizer",
    "lr_scheduler": "lr_policy",
    "engine": "engine",
}

# Kinds our Clara 3.x registry shares with MONAI's class names (`SimpleInferer`, `UNet`, `DiceLoss`): in a 4.x
# config a name means the MONAI/torch class of that name, as it did in Clara 4.x. The 4.x kinds keep our
# registrations first: those replace MONAI classes on purpose (the checkpoint handlers).
LIBRARY_FIRST = frozenset({"network", "transform", "loss", "inferer", "optimizer", "lr_policy"})


@dataclass(frozen=True)
class Component:
    """One thing to build: `id` (unique), where it is written (`key_path`), its Clara 4.x `kind` (None: a plain
    value whose references are resolved), its `spec` (one spec, or a list of them for a list section such as
    `pre_transforms`) and its `scope`: the `@name`s it may use → the ids of the components they mean."""

    id: str
    key_path: str
    kind: str | None
    spec: Any
    scope: Mapping[str, str] = field(default_factory=dict)


def build_components(
    components: Sequence[Component],
    *,
    file: str,
    search_dirs: Iterable[Path] = (),
    given: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build every component after those it refers to; returns id → object (with `given`, objects that exist
    already, such as the config itself as `train_conf`)."""
    built: dict[str, Any] = dict(given or {})
    folders = tuple(search_dirs)
    for component in build_order(components, file=file, given=built):
        objects = {name: built[target] for name, target in component.scope.items() if target in built}
        built[component.id] = _build_one(component, objects, file=file, search_dirs=folders)
    return built


def build_order(
    components: Sequence[Component], *, file: str, given: Mapping[str, Any] | None = None
) -> list[Component]:
    """`components` ordered so that each comes after the ones it refers to; an unknown `@name` or a cycle is
    exit 3 naming the keys."""
    by_id, given = {c.id: c for c in components}, given or {}
    needs = {c.id: _needs(c, set(by_id) | set(given), file=file) for c in components}
    ordered: list[Component] = []
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> None:
        if state.get(node) == "done" or node in given:
            return
        if state.get(node) == "open":
            cycle = [*trail[trail.index(node) :], node]
            keys = " → ".join(by_id[n].key_path for n in cycle)
            raise ConfigError(
                f"the components refer to each other in a cycle: {keys}; remove one of these references",
                file=file,
                key_path=by_id[node].key_path,
            )
        state[node] = "open"
        for target in sorted(needs[node]):
            visit(target, [*trail, node])
        state[node] = "done"
        ordered.append(by_id[node])

    for component in components:
        visit(component.id, [])
    return ordered


def _needs(component: Component, known: set[str], *, file: str) -> set[str]:
    """The ids `component` refers to; a reference its scope does not hold is exit 3 with did-you-mean."""
    targets = set()
    for name in sorted(references_in(component.spec)):
        target = component.scope.get(name)
        if target is None or target not in known:
            offered = sorted(n for n, t in component.scope.items() if t in known)
            raise ConfigError(
                f"'@{name}' refers to no component{did_you_mean(name, offered) or '.'} Components it can "
                f"refer to: {', '.join('@' + n for n in offered) or 'none'}",
                file=file,
                key_path=component.key_path,
            )
        targets.add(target)
    return targets


def _build_one(
    component: Component, objects: Mapping[str, Any], *, file: str, search_dirs: tuple[Path, ...]
) -> Any:
    if component.kind is None:
        return resolve_value(component.spec, objects, file=file, key_path=component.key_path)
    if isinstance(component.spec, list):
        built = [
            build_spec(
                spec,
                component.kind,
                objects,
                file=file,
                key_path=child(component.key_path, i),
                search_dirs=search_dirs,
            )
            for i, spec in enumerate(component.spec)
        ]
        if component.kind == "transform":  # a list of transforms is one chain, as Clara 4.x built it
            from monai.transforms import Compose

            return Compose(built)
        return built
    return build_spec(
        component.spec,
        component.kind,
        objects,
        file=file,
        key_path=component.key_path,
        search_dirs=search_dirs,
    )


def build_spec(
    spec: Any,
    kind: str,
    objects: Mapping[str, Any],
    *,
    file: str,
    key_path: str,
    search_dirs: Iterable[Path] = (),
) -> Any:
    """One Clara 4.x spec of `kind`: modernised, its args resolved against `objects`, built by the factory."""
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f'a {kind} must be a component such as {{"name": "...", "args": {{...}}}}, not {spec!r}',
            file=file,
            key_path=key_path,
        )
    current = _library_first(modernise(spec, kind=kind, file=file, key_path=key_path), REGISTRY_KINDS[kind])
    folders = tuple(search_dirs)
    _refuse_folder_prefix(current.get("path"), folders, file=file, key_path=child(key_path, "path"))
    args = current.get("args")
    if isinstance(args, Mapping):
        resolved = resolve_value(dict(args), objects, file=file, key_path=child(key_path, "args"))
        current = {**current, "args": resolved}
    return build(current, REGISTRY_KINDS[kind], file=file, key_path=key_path, search_dirs=folders)


def _refuse_folder_prefix(path: Any, search_dirs: tuple[Path, ...], *, file: str, key_path: str) -> None:
    """`"path": "custom.my_net.Net"` names the code folder as a package, but Clara 4.x put the folder itself on
    PYTHONPATH (`$MMAR_ROOT/custom`, as do we): exit 3 with the path that works, not "no module named custom"."""
    head, _, rest = path.partition(".") if isinstance(path, str) else ("", "", "")
    if not rest or not any(d.name == head and d.is_dir() for d in search_dirs):
        return
    if importlib.util.find_spec(head) is None:
        raise ConfigError(
            f"'{path}' names the MMAR's {head}/ folder as a package, but {head}/ is itself on the import path "
            f'(Clara\'s set_env.sh put $MMAR_ROOT/{head} on PYTHONPATH): write "path": "{rest}"',
            file=file,
            key_path=key_path,
        )


def _library_first(spec: dict[str, Any], kind: str) -> dict[str, Any]:
    """`"name": "SimpleInferer"` → the library class's path when the kind's libraries have that class."""
    name = spec.get("name")
    if kind not in LIBRARY_FIRST or "path" in spec or not isinstance(name, str) or not name.isidentifier():
        return spec
    for module_name in FALLBACKS[kind]:
        if inspect.isclass(getattr(importlib.import_module(module_name), name, None)):
            return {**{k: v for k, v in spec.items() if k != "name"}, "path": f"{module_name}.{name}"}
    return spec
