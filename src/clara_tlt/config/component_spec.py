"""The grammar of one component spec, in a config slot or on its own: `{"name" | "path", "args"}` (Clara 3.x),
arguments beside `name` (TLT 1.x's EA form, `tag` for an argument called `name`), `"name": "Class#instance"`,
`name` and `path` together when they agree, `disabled`, and AutoML's `search` / `apply`.

    normalize_spec({"name": "ScaleByResolution#fine", "args": {...}}, file=..., key_path=...).label
    # → "ScaleByResolution#fine"
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clara_tlt.config.keypath import child
from clara_tlt.config.references import INSTANCE_MARK
from clara_tlt.config.suggest import did_you_mean
from clara_tlt.errors import ConfigError

SPEC_KEYS = frozenset({"name", "path", "args", "disabled"})
# Clara AutoML's search space and its use (`"search": [...]`, `"apply": {...}`): a training run uses the values
# the config writes, as Clara's own training did without AutoML.
AUTOML_KEYS = frozenset({"search", "apply"})


@dataclass(frozen=True)
class ComponentSpec:
    """A component spec in normal form: exactly one of `name`/`path`, and the constructor `args`."""

    name: str | None
    path: str | None
    args: dict[str, Any]
    instance: str | None = None

    @property
    def label(self) -> str:
        """What the config called it: `Class#instance`, `Class` or the path; what a `ref` names."""
        if self.name is None:
            return self.path or "?"
        return self.name + (INSTANCE_MARK + self.instance if self.instance else "")


def normalize_spec(spec: Any, *, file: str, key_path: str) -> ComponentSpec:
    """Accept the GA form (`name`/`path` + `args`) and the older EA form (arguments beside `name`, `tag` for `name`)."""
    spec = _spec_object(spec, file=file, key_path=key_path)
    name, path, instance = _class_of(spec, file=file, key_path=key_path)
    return ComponentSpec(
        name=name, path=path, args=_args_of(spec, file=file, key_path=key_path), instance=instance
    )


def _spec_object(spec: Any, *, file: str, key_path: str) -> dict[str, Any]:
    """The spec as an object (a bare string is a name); a `ref` has no place outside a config's slots."""
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, dict):
        raise ConfigError(
            f'a component must be an object with "name" or "path", not {type(spec).__name__}',
            file=file,
            key_path=key_path,
        )
    if "ref" in spec:
        raise ConfigError(
            f'"ref": {spec["ref"]!r} can only stand in a component slot of a config, where it reuses a '
            "component defined earlier",
            file=file,
            key_path=child(key_path, "ref"),
        )
    return spec


def _class_of(spec: dict[str, Any], *, file: str, key_path: str) -> tuple[str | None, str | None, str | None]:
    """(name, path, instance): at least one of name and path, non-empty strings that agree; `Class#instance`."""
    name, path = spec.get("name"), spec.get("path")
    if name is None and path is None:
        raise ConfigError(
            'a component needs "name" (a registered name) or "path" (a dotted class path)',
            file=file,
            key_path=key_path,
        )
    for key, value in (("name", name), ("path", path)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConfigError(f'"{key}" must be a non-empty string', file=file, key_path=child(key_path, key))
    instance = None
    if name is not None and INSTANCE_MARK in name:
        name, _, instance = name.partition(INSTANCE_MARK)
        if not name or not instance:
            raise ConfigError(
                f'"name": {spec["name"]!r} must read "Class#instance", both parts non-empty',
                file=file,
                key_path=child(key_path, "name"),
            )
    if name is not None and path is not None and path.rpartition(".")[2] != name.rpartition(".")[2]:
        raise ConfigError(
            f'"name" {name!r} and "path" {path!r} name different classes; keep one of them, or make them agree',
            file=file,
            key_path=key_path,
        )
    return name, path, instance


def _args_of(spec: dict[str, Any], *, file: str, key_path: str) -> dict[str, Any]:
    """The constructor arguments: `args` (GA form, no unknown keys beside it) or every other key (EA form)."""
    if "args" not in spec:  # EA form: every other key is an argument; `tag` stands for the argument `name`.
        args = {k: v for k, v in spec.items() if k not in SPEC_KEYS | AUTOML_KEYS}
        if "tag" in args:
            args["name"] = args.pop("tag")
        return args
    unknown = sorted(set(spec) - SPEC_KEYS - AUTOML_KEYS)
    if unknown:
        known = sorted(SPEC_KEYS | AUTOML_KEYS)
        raise ConfigError(
            f"unknown key '{unknown[0]}' in a component{did_you_mean(unknown[0], known) or '.'} A component "
            f'takes {", ".join(known)}; its arguments go inside "args"',
            file=file,
            key_path=child(key_path, unknown[0]),
        )
    args = spec["args"]
    if args is None:
        return {}
    if not isinstance(args, dict):
        raise ConfigError(
            '"args" must be an object of argument: value', file=file, key_path=child(key_path, "args")
        )
    return dict(args)
