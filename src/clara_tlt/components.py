"""Component factory: `{"name"|"path", "args"}` → object, for every kind of component a Clara config names.

`name` is looked up in our registry (Clara 3.x names, TLT 1.x names as aliases), then among the MONAI/torch
classes of exactly that name for the kind (so Clara 4.x style `"name": "LoadImaged"` works); `path` is a dotted
class path, importable also from the MMAR's `custom/` or `lib/` folder (bring your own components).

Registering is one decorator::

    @register("loss", "Dice", aliases=("losses.dice_loss",))
    class ClaraDice(DiceLoss): ...

    build({"name": "Dice", "args": {"smooth": 1e-5}}, "loss", file="config_train.json", key_path="train.loss")
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from clara_tlt.config.keypath import child
from clara_tlt.config.suggest import did_you_mean
from clara_tlt.errors import ClaraError, ConfigError

T = TypeVar("T")

# Our modules that register each kind, imported the first time that kind is looked up (keeps startup cheap).
PROVIDERS: dict[str, tuple[str, ...]] = {
    "transform": ("clara_tlt.transforms",),
    "image_pipeline": ("clara_tlt.data",),
    "network": ("clara_tlt.networks",),
    "loss": ("clara_tlt.losses",),
    "optimizer": ("clara_tlt.optim",),
    "lr_policy": ("clara_tlt.optim",),
    "metric": ("clara_tlt.metrics",),
    "inferer": ("clara_tlt.inferers",),
    "writer": ("clara_tlt.writers",),
    "model_loader": ("clara_tlt.engines.model_loaders",),
}

# Libraries whose classes a `name` may reach by exact class name when our registry has no such name.
FALLBACKS: dict[str, tuple[str, ...]] = {
    "transform": ("monai.transforms",),
    "network": ("monai.networks.nets", "torch.nn"),
    "loss": ("monai.losses", "torch.nn"),
    "optimizer": ("torch.optim", "monai.optimizers"),
    "lr_policy": ("torch.optim.lr_scheduler",),
    "metric": ("monai.metrics",),
    "inferer": ("monai.inferers",),
    "image_pipeline": (),
    "writer": (),
    "model_loader": (),
}

# TLT 1.x prefixes (`transforms.LoadNifty`, `lr_policy.DecayLRonStep`) that name our registry, not a module.
TLT_PREFIXES = (
    "transforms.",
    "transforms_ctrl.",
    "transforms_fastaug.",
    "losses.",
    "lr_policy.",
    "writers.",
    "metrics.",
)
SPEC_KEYS = frozenset({"name", "path", "args", "disabled"})


@dataclass(frozen=True)
class Registration:
    """A registered factory and the name a config used to reach it (for messages)."""

    factory: Callable[..., Any]
    canonical: str


_registry: dict[str, dict[str, Registration]] = {kind: {} for kind in PROVIDERS}
_loaded_providers: set[str] = set()


def register(kind: str, name: str, *, aliases: Iterable[str] = ()) -> Callable[[T], T]:
    """Class or function decorator: make `name` (and `aliases`) build this factory for `kind`."""
    if kind not in _registry:
        raise ValueError(f"unknown component kind {kind!r}; kinds: {', '.join(_registry)}")

    def decorate(factory: T) -> T:
        for key in (name, *aliases):
            existing = _registry[kind].get(key)
            if existing is not None and existing.factory is not factory:
                raise ValueError(f"{kind} name {key!r} is registered twice")
            _registry[kind][key] = Registration(factory, name)  # type: ignore[arg-type]
        return factory

    return decorate


def registered_names(kind: str) -> list[str]:
    """Every canonical name of `kind` (aliases left out), sorted: what error messages offer."""
    _load_providers(kind)
    return sorted({r.canonical for r in _registry[kind].values()})


def _load_providers(kind: str) -> None:
    for module in PROVIDERS[kind]:
        if module in _loaded_providers:
            continue
        _loaded_providers.add(module)
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module)


@dataclass(frozen=True)
class ComponentSpec:
    """A component spec in normal form: exactly one of `name`/`path`, and the constructor `args`."""

    name: str | None
    path: str | None
    args: dict[str, Any]

    @property
    def label(self) -> str:
        return self.name or self.path or "?"


def normalize_spec(spec: Any, *, file: str, key_path: str) -> ComponentSpec:
    """Accept the GA form (`name`/`path` + `args`) and the older EA form (arguments beside `name`, `tag` for `name`)."""
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, dict):
        raise ConfigError(
            f'a component must be an object with "name" or "path", not {type(spec).__name__}',
            file=file,
            key_path=key_path,
        )
    name, path = spec.get("name"), spec.get("path")
    if (name is None) == (path is None):
        raise ConfigError(
            'a component needs exactly one of "name" (a registered name) or "path" (a dotted class path)',
            file=file,
            key_path=key_path,
        )
    for key, value in (("name", name), ("path", path)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConfigError(f'"{key}" must be a non-empty string', file=file, key_path=child(key_path, key))
    if "args" in spec:
        args = spec["args"]
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise ConfigError(
                '"args" must be an object of argument: value', file=file, key_path=child(key_path, "args")
            )
    else:  # EA form: every other key is an argument; `tag` stands for the argument `name`.
        args = {k: v for k, v in spec.items() if k not in SPEC_KEYS}
        if "tag" in args:
            args["name"] = args.pop("tag")
    return ComponentSpec(name=name, path=path, args=dict(args))


def resolve(
    spec: ComponentSpec, kind: str, *, file: str, key_path: str, search_dirs: Iterable[Path] = ()
) -> Callable[..., Any]:
    """The class or factory a spec names; unknown names raise `ConfigError` with did-you-mean and accepted names."""
    if kind not in _registry:
        raise ValueError(f"unknown component kind {kind!r}")
    if spec.path is not None:
        return import_path(spec.path, file=file, key_path=child(key_path, "path"), search_dirs=search_dirs)
    name = spec.name or ""
    _load_providers(kind)
    found = _registry[kind].get(name)
    if found is None:
        for prefix in TLT_PREFIXES:
            if name.startswith(prefix) and name[len(prefix) :] in _registry[kind]:
                found = _registry[kind][name[len(prefix) :]]
                break
    if found is not None:
        return found.factory
    fallback = _fallback_class(kind, name)
    if fallback is not None:
        return fallback
    if "." in name and not name.startswith(TLT_PREFIXES):  # seed 000: a name may be a class path too
        return import_path(name, file=file, key_path=child(key_path, "name"), search_dirs=search_dirs)
    raise ConfigError(_unknown_message(kind, name), file=file, key_path=child(key_path, "name"))


def _fallback_class(kind: str, name: str) -> Callable[..., Any] | None:
    if not name.isidentifier():
        return None
    for module_name in FALLBACKS[kind]:
        module = importlib.import_module(module_name)
        candidate = getattr(module, name, None)
        if inspect.isclass(candidate):
            return candidate
    return None


def _unknown_message(kind: str, name: str) -> str:
    ours = registered_names(kind)
    fallback_names: list[str] = []
    for module_name in FALLBACKS[kind]:
        module = importlib.import_module(module_name)
        fallback_names += [
            n for n in dir(module) if not n.startswith("_") and inspect.isclass(getattr(module, n))
        ]
    hint = did_you_mean(name, ours + fallback_names)
    accepted = ", ".join(ours) if ours else f"none registered yet for {kind}"
    libraries = " or ".join(FALLBACKS[kind])
    also = f"; any class of {libraries} by its exact name" if libraries else ""
    return (
        f"unknown {kind} '{name}'{hint or '.'} Accepted names: {accepted}{also}; "
        f'or give "path": "package.module.Class" for your own {kind}'
    )


def import_path(
    path: str, *, file: str, key_path: str, search_dirs: Iterable[Path] = ()
) -> Callable[..., Any]:
    """Import `package.module.Class`; `search_dirs` (the MMAR's custom/ and lib/) are put on sys.path first."""
    for folder in search_dirs:
        if folder.is_dir() and str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    module_name, _, attribute = path.rpartition(".")
    if not module_name:
        raise ConfigError(
            f"'{path}' is not a dotted class path like 'my_module.MyClass'", file=file, key_path=key_path
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"cannot import module '{module_name}' for '{path}': {exc}. Put your code in the MMAR's custom/ or lib/ "
            "folder or on PYTHONPATH",
            file=file,
            key_path=key_path,
        ) from None
    target = getattr(module, attribute, None)
    if target is None or not callable(target):
        raise ConfigError(f"module '{module_name}' has no class '{attribute}'", file=file, key_path=key_path)
    return target


def build(
    spec: Any,
    kind: str,
    *,
    file: str,
    key_path: str,
    inject: Mapping[str, Any] | None = None,
    search_dirs: Iterable[Path] = (),
) -> Any:
    """Build one component. `inject` holds runtime objects the config cannot name (an optimizer's `params`).

    Config `args` win over injected values of the same name. Wrong arguments raise `ConfigError` naming the
    argument and the ones the component accepts.
    """
    normal = normalize_spec(spec, file=file, key_path=key_path)
    factory = resolve(normal, kind, file=file, key_path=key_path, search_dirs=search_dirs)
    args = {**(inject or {}), **normal.args}
    _check_arguments(factory, args, normal, kind, file=file, key_path=key_path)
    try:
        return factory(**args)
    except ClaraError as exc:
        if isinstance(exc, ConfigError) and exc.file is None:
            raise ConfigError(exc.reason, file=file, key_path=child(key_path, "args")) from exc
        raise
    except (TypeError, ValueError, KeyError, AssertionError, RuntimeError) as exc:
        raise ConfigError(
            f"cannot build {kind} '{normal.label}': {type(exc).__name__}: {exc}",
            file=file,
            key_path=child(key_path, "args"),
        ) from exc


def _check_arguments(
    factory: Callable[..., Any],
    args: dict[str, Any],
    spec: ComponentSpec,
    kind: str,
    *,
    file: str,
    key_path: str,
) -> None:
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return
    parameters = signature.parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    accepted = [n for n, p in parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    for name in args:
        if name not in accepted:
            raise ConfigError(
                f"{kind} '{spec.label}' has no argument '{name}'{did_you_mean(name, accepted) or '.'} "
                f"Accepted arguments: {', '.join(accepted) or 'none'}",
                file=file,
                key_path=child(child(key_path, "args"), name),
            )
    missing = [
        n
        for n, p in parameters.items()
        if p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and n not in args
    ]
    if missing:
        raise ConfigError(
            f"{kind} '{spec.label}' needs argument(s) {', '.join(missing)}; add them under \"args\"",
            file=file,
            key_path=child(key_path, "args"),
        )
