"""TEMPORARY stand-in for clara_tlt.config.clara4 (issue 22 part A) until that package is merged; deleted then."""

from __future__ import annotations

import ast
import importlib
import logging
from collections.abc import Mapping
from typing import Any

from clara_tlt.errors import ConfigError

log = logging.getLogger(__name__)
ENGINE_KEYS = ("trainer", "evaluator")
RENAMED_ARGS = {"dimensions": "spatial_dims", "n_classes": "num_classes"}
RENAMED_NAMES = {"AddChanneld": "EnsureChannelFirstd"}
CALLABLES = {"monai.handlers.from_engine"}


def is_clara4(config: Mapping[str, Any]) -> bool:
    """A 4.x config: a section with a trainer/evaluator, or `@`/`#` strings."""
    sections = [config, *(v for v in config.values() if isinstance(v, Mapping))]
    if any(key in section for section in sections for key in ENGINE_KEYS):
        return True
    return bool(references_in(config))


def references_in(value: Any) -> set[str]:
    """Names that `@name` and `#…@name…` strings refer to."""
    if isinstance(value, Mapping):
        return set().union(*(references_in(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(references_in(v) for v in value)) if value else set()
    if isinstance(value, str) and value.startswith("@"):
        return {value[1:]}
    if isinstance(value, str) and value.startswith("#"):
        return {word.split(".")[0].split("(")[0] for word in value[1:].split("@")[1:]}
    return set()


def resolve_value(value: Any, objects: Mapping[str, Any], *, file: str, key_path: str) -> Any:
    """`@name` → the object, `#expr` and `lambda x: …` evaluated on an allow-list."""
    if isinstance(value, Mapping):
        return {k: resolve_value(v, objects, file=file, key_path=f"{key_path}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [
            resolve_value(v, objects, file=file, key_path=f"{key_path}[{i}]") for i, v in enumerate(value)
        ]
    if not isinstance(value, str):
        return value
    if value.startswith("@"):
        return objects[value[1:]]
    if value.startswith("#"):
        text = value[1:].replace("@", "_ref_")
        names = {f"_ref_{k}": v for k, v in objects.items()}
        return _evaluate(ast.parse(text, mode="eval").body, names, file, key_path)
    if value.startswith("lambda"):
        node = ast.parse(value, mode="eval").body
        assert isinstance(node, ast.Lambda)
        arg = node.args.args[0].arg
        return lambda x: _evaluate(node.body, {arg: x}, file, key_path)
    return value


def _evaluate(node: ast.AST, names: dict[str, Any], file: str, key_path: str) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_evaluate(e, names, file, key_path) for e in node.elts]
    if isinstance(node, ast.Name) and node.id in names:
        return names[node.id]
    if isinstance(node, ast.Subscript):
        return _evaluate(node.value, names, file, key_path)[_evaluate(node.slice, names, file, key_path)]
    if isinstance(node, ast.Attribute):
        return getattr(_evaluate(node.value, names, file, key_path), node.attr)
    if isinstance(node, ast.Call):
        dotted = ast.unparse(node.func)
        if dotted in CALLABLES:
            module, _, attr = dotted.rpartition(".")
            function = getattr(importlib.import_module(module), attr)
        else:
            function = _evaluate(node.func, names, file, key_path)
        args = [_evaluate(a, names, file, key_path) for a in node.args]
        kwargs = {k.arg: _evaluate(k.value, names, file, key_path) for k in node.keywords if k.arg}
        return function(*args, **kwargs)
    raise ConfigError(f"expression form {ast.unparse(node)!r} is not allowed", file=file, key_path=key_path)


def modernise(spec: Mapping[str, Any], *, kind: str, file: str, key_path: str) -> dict[str, Any]:
    """MONAI 0.x names and arguments → 1.6."""
    out = dict(spec)
    name = out.get("name")
    if name in RENAMED_NAMES:
        log.info("%s: %s.name: %s → %s", file, key_path, name, RENAMED_NAMES[name])
        out["name"] = RENAMED_NAMES[name]
        if name == "AddChanneld":
            out["args"] = {**(out.get("args") or {}), "channel_dim": "no_channel"}
    args = dict(out.get("args") or {})
    for old, new in RENAMED_ARGS.items():
        if old in args and not (name == "AsDiscreted" and old == "n_classes"):
            log.info("%s: %s.args.%s → %s", file, key_path, old, new)
            args[new] = args.pop(old)
    if name == "AsDiscreted" and "n_classes" in args:
        classes = args.pop("n_classes")
        if args.get("to_onehot") is True:
            args["to_onehot"] = classes
    if "args" in out or args:
        out["args"] = args
    return out
