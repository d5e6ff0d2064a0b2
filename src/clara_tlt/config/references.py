"""Clara 3.x `{"ref": "Class#instance"}`: reuse a component defined earlier in the config (the validate
section reusing the train section's transforms), the same object with the same arguments.

A component is defined under the name the config gave it (`"ScaleByResolution#fine"`, or `"LoadNifti"`), and
an instance also under its instance name alone (`{"ref": "fine"}`, as NVIDIA's example configs write it);
a name defined twice cannot be referred to (which one?).

    definitions = Definitions(file="config_train.json")
    definitions.define("LoadNifti", key_path="train.pre_transforms[0]", kind="transform", obj=loader)
    definitions.lookup("LoadNifti", kind="transform", key_path="validate.pre_transforms[0]")  # → loader
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from clara_tlt.config.keypath import child
from clara_tlt.config.suggest import did_you_mean
from clara_tlt.errors import ConfigError

REF_KEY = "ref"
INSTANCE_MARK = "#"  # "ScaleByResolution#fine": an instance name after the class name


def reference_of(spec: Any, *, file: str, key_path: str) -> str | None:
    """The name a `{"ref": NAME}` spec refers to; None for any other spec."""
    if not isinstance(spec, dict) or REF_KEY not in spec:
        return None
    extra = sorted(set(spec) - {REF_KEY, "disabled"})
    if extra:
        raise ConfigError(
            f'a "ref" reuses a component with its own arguments, so it takes no {", ".join(extra)}; define a '
            'new component with "name" and "args" instead',
            file=file,
            key_path=key_path,
        )
    name = spec[REF_KEY]
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(
            '"ref" must name a component, e.g. "LoadNifti" or "ScaleByResolution#fine"',
            file=file,
            key_path=child(key_path, REF_KEY),
        )
    return name


@dataclass(frozen=True)
class Definition:
    """Where a named component was defined, its kind, and the object (None: it failed to build)."""

    key_path: str
    kind: str
    obj: Any


@dataclass
class Definitions:
    """The components a config has defined so far, by the name the config gave each."""

    file: str
    by_name: dict[str, list[Definition]] = field(default_factory=dict)

    def define(self, name: str, *, key_path: str, kind: str, obj: Any) -> None:
        """Define `name` (and its instance part); `obj` None records a component that failed to build, so a
        ref to it says so instead of claiming nothing of that name exists."""
        definition = Definition(key_path, kind, obj)
        _, mark, instance = name.partition(INSTANCE_MARK)
        for key in (name, instance) if mark else (name,):
            self.by_name.setdefault(key, []).append(definition)

    def lookup(self, name: str, *, kind: str, key_path: str) -> Any:
        """The object defined as `name`; an unknown, ambiguous or wrong-kind name is a `ConfigError`."""
        where = {"file": self.file, "key_path": child(key_path, REF_KEY)}
        found = self.by_name.get(name)
        if not found:
            defined = ", ".join(sorted(self.by_name)) or "none"
            raise ConfigError(
                f"ref '{name}' names no component defined before it{did_you_mean(name, self.by_name) or '.'} "
                f"Defined: {defined}",
                **where,
            )
        if len(found) > 1:
            places = ", ".join(d.key_path for d in found)
            raise ConfigError(
                f"ref '{name}' is ambiguous: {name} is defined at {places}; give each a name "
                f'"{name}#instance" and refer to one of them',
                **where,
            )
        if found[0].obj is None:
            raise ConfigError(
                f"ref '{name}' names the component at {found[0].key_path}, which was not built (see its error)",
                **where,
            )
        if found[0].kind != kind:
            raise ConfigError(
                f"ref '{name}' names the {found[0].kind} at {found[0].key_path}, but this slot takes a {kind}",
                **where,
            )
        return found[0].obj
