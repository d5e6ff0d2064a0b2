"""Component factory: `{"name"|"path", "args"}` → object, for every kind of component a Clara config names.

`name` is looked up in our registry (Clara 3.x names, TLT 1.x names as aliases), then among the MONAI/torch
classes of exactly that name for the kind (so Clara 4.x style `"name": "LoadImaged"` works); `path` is a dotted
class path, importable also from the MMAR's `custom/` or `lib/` folder (bring your own components). Clara 3.x's
`"name": "Class#instance"` names an instance of `Class` (two `ScaleByResolution`s told apart); a spec with both
`name` and `path` is accepted when they name the same class, and `path` wins. Names that cannot work in PyTorch
(TensorFlow graph ops, Keras callbacks) are registered as unavailable: asking for one says what to use instead.
The grammar of one spec is `clara_tlt.config.component_spec`.

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

from clara_tlt.config.component_spec import ComponentSpec, normalize_spec
from clara_tlt.config.keypath import child
from clara_tlt.config.suggest import did_you_mean
from clara_tlt.errors import ConfigError
from clara_tlt.factory.arguments import accepted_names, check_arguments
from clara_tlt.factory.errors import (
    OUR_PACKAGE,
    PIP_NAMES,
    imports_tensorflow,
    missing_package,
    raised_in_our_code,
    tensorflow_importer,
)
from clara_tlt.factory.origin import (
    ModelFile,
    check_imported,
    checked_code_folder,
    current_model_file,
    from_model_file,
    offline_args,
    refusal,
)

T = TypeVar("T")

# Our modules that register each kind, imported the first time that kind is looked up (keeps startup cheap).
PROVIDERS: dict[str, tuple[str, ...]] = {
    "transform": ("clara_tlt.transforms",),
    "image_pipeline": ("clara_tlt.data", "clara_tlt.data.pipelines.aliases"),
    "network": ("clara_tlt.learning.networks", "clara_tlt.learning.networks_tf"),
    "loss": ("clara_tlt.learning.losses",),
    "optimizer": ("clara_tlt.learning.optim",),
    "lr_policy": ("clara_tlt.learning.optim",),
    "metric": ("clara_tlt.metrics", "clara_tlt.metrics.catalogue"),
    "inferer": ("clara_tlt.inferers",),
    "writer": ("clara_tlt.writers",),
    "model_loader": ("clara_tlt.engines.model_loaders",),
    "handler": ("clara_tlt.engines.handlers.catalogue",),
    # Clara 4.x kinds (factory/wiring.py): MONAI's classes by exact name (FALLBACKS).
    **dict.fromkeys(("dataset", "dataloader", "monai_handler", "ignite_metric", "engine"), ()),
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
    "handler": (),
    "dataset": ("monai.data",),
    "dataloader": ("monai.data", "torch.utils.data"),
    "monai_handler": ("monai.handlers",),
    "ignite_metric": ("monai.handlers", "ignite.metrics"),
    "engine": ("monai.engines",),
}

PATH_FIX = "Put your code in the MMAR's custom/ or lib/ folder or on PYTHONPATH"
AI4MED_FIX = (
    "clara-tlt's ai4med compatibility layer holds only what docs/byoc.md lists; it shows the alternatives"
)

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


@dataclass(frozen=True)
class Registration:
    """A registered factory and the name a config used to reach it (for messages)."""

    factory: Callable[..., Any]
    canonical: str
    built_on: str


@dataclass(frozen=True)
class CatalogueEntry:
    """One registered name for `clara-tlt components`: its kind, aliases and what it is built on."""

    kind: str
    name: str
    aliases: tuple[str, ...]
    built_on: str


_registry: dict[str, dict[str, Registration]] = {kind: {} for kind in PROVIDERS}
# kind → name → what to use instead, for Clara names that cannot work in PyTorch.
_unavailable: dict[str, dict[str, str]] = {kind: {} for kind in PROVIDERS}
_loaded_providers: set[str] = set()
# Kinds whose accepted names an unknown-name message has listed in this process (listed once, then pointed to).
_listed_kinds: set[str] = set()


def register(
    kind: str, name: str, *, aliases: Iterable[str] = (), built_on: str | None = None
) -> Callable[[T], T]:
    """Class or function decorator: make `name` (and `aliases`) build this factory for `kind`.

    `built_on` says which library class does the work (`"monai.losses.FocalLoss"`); by default the first base
    class outside clara_tlt, else "clara_tlt" (our own code).
    """
    if kind not in _registry:
        raise ValueError(f"unknown component kind {kind!r}; kinds: {', '.join(_registry)}")

    def decorate(factory: T) -> T:
        basis = built_on or _library_base(factory)
        for key in (name, *aliases):
            existing = _registry[kind].get(key)
            if existing is not None and existing.factory is not factory:
                raise ValueError(f"{kind} name {key!r} is registered twice")
            _registry[kind][key] = Registration(factory, name, basis)  # type: ignore[arg-type]
        return factory

    return decorate


def register_alias(kind: str, alias: str, *, of: str) -> None:
    """Make `alias` build what the registered name `of` builds (Clara 3.1's Keras pipelines: same behaviour)."""
    _load_providers(kind)
    found = _registry[kind].get(of)
    if found is None:
        raise ValueError(f"{kind} {of!r} is not registered, so {alias!r} cannot stand for it")
    existing = _registry[kind].get(alias)
    if existing is not None and existing.factory is not found.factory:
        raise ValueError(f"{kind} name {alias!r} is registered twice")
    _registry[kind][alias] = found


def register_unavailable(kind: str, names: Iterable[str], *, instead: str) -> None:
    """Mark Clara names that cannot work in PyTorch; building one is a config error saying `instead`."""
    for name in names:
        _unavailable[kind][name] = instead


def _library_base(factory: Any) -> str:
    if inspect.isclass(factory):
        for base in factory.__mro__[1:]:
            module = base.__module__
            if module.split(".")[0] not in (OUR_PACKAGE, "builtins", "abc", "typing"):
                return f"{module}.{base.__qualname__}"
    return OUR_PACKAGE


def catalogue(kind: str | None = None) -> list[CatalogueEntry]:
    """Every registered name (of `kind`, or of every kind), sorted by kind and name, with aliases and basis."""
    entries = []
    for each in [kind] if kind else list(_registry):
        _load_providers(each)
        by_name: dict[str, list[str]] = {}
        for key, found in _registry[each].items():
            by_name.setdefault(found.canonical, [])
            if key != found.canonical:
                by_name[found.canonical].append(key)
        for name in sorted(by_name):
            basis = _registry[each][name].built_on
            entries.append(CatalogueEntry(each, name, tuple(sorted(by_name[name])), basis))
    return entries


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


def resolve(
    spec: ComponentSpec, kind: str, *, file: str, key_path: str, search_dirs: Iterable[Path] = ()
) -> Callable[..., Any]:
    """The class or factory a spec names; unknown names raise `ConfigError` with did-you-mean.

    While a model file's spec is built (`component_origin.from_model_file`), only registered names and
    `FALLBACKS` classes resolve, and a `path` only into the MMAR's code folders: the rest is refused before
    anything is imported.
    """
    if kind not in _registry:
        raise ValueError(f"unknown component kind {kind!r}")
    origin = current_model_file()
    if spec.path is not None:
        if origin is not None:
            return _model_file_path(spec.path, origin, kind=kind, key_path=child(key_path, "path"))
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
    if name in _unavailable[kind]:
        raise ConfigError(
            f"{kind} '{name}' cannot work in PyTorch; {_unavailable[kind][name]}",
            file=file,
            key_path=child(key_path, "name"),
        )
    fallback = _fallback_class(kind, name)
    if fallback is not None:
        return fallback
    if "." in name and not name.startswith(TLT_PREFIXES):  # Clara's AIAA configs: a name may be a class path
        if origin is not None:
            raise refusal(
                origin, f"\"name\": '{name}' (a dotted path)", kind=kind, key_path=child(key_path, "name")
            )
        return import_path(name, file=file, key_path=child(key_path, "name"), search_dirs=search_dirs)
    raise ConfigError(_unknown_message(kind, name), file=file, key_path=child(key_path, "name"))


def _model_file_path(path: str, origin: ModelFile, *, kind: str, key_path: str) -> Callable[..., Any]:
    """A model file's `path`: only a module file inside the MMAR's code folders, checked before the import and
    after it (the module and the object it names were defined there)."""
    module_name = path.rpartition(".")[0]
    folder = checked_code_folder(module_name, origin, kind=kind, key_path=key_path)
    target = import_path(path, file=origin.file, key_path=key_path, search_dirs=(folder,))
    check_imported(sys.modules[module_name], target, origin, kind=kind, key_path=key_path)
    return target


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
    """Did-you-mean over our names and the fallback libraries' classes; our accepted names listed the first
    time a kind is missed in this process with no close match, then only `clara-tlt components KIND`."""
    ours = registered_names(kind)
    fallback_names: list[str] = []
    for module_name in FALLBACKS[kind]:
        module = importlib.import_module(module_name)
        fallback_names += [
            n for n in dir(module) if not n.startswith("_") and inspect.isclass(getattr(module, n))
        ]
    hint = did_you_mean(name, ours + fallback_names)
    libraries = " or ".join(FALLBACKS[kind])
    also = f", or any class of {libraries} by its exact name" if libraries else ""
    listing = ""
    if not hint and kind not in _listed_kinds:
        _listed_kinds.add(kind)
        listing = f" Accepted names: {', '.join(ours) if ours else f'none registered yet for {kind}'}."
    own = "" if current_model_file() else f'; or give "path": "package.module.Class" for your own {kind}'
    return (
        f"unknown {kind} '{name}'{hint or '.'}{listing} `clara-tlt components {kind}` lists the registered "
        f"names{also}{own}"
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
        importer = tensorflow_importer(exc)
        if importer is not None:
            raise ConfigError(_needs_tensorflow(path, importer), file=file, key_path=key_path) from None
        fix = AI4MED_FIX if str(exc.name).startswith("ai4med.") else PATH_FIX
        raise ConfigError(
            f"cannot import module '{module_name}' for '{path}': {exc}. {fix}", file=file, key_path=key_path
        ) from None
    if imports_tensorflow(module):
        raise ConfigError(_needs_tensorflow(path, str(module.__file__)), file=file, key_path=key_path)
    target = getattr(module, attribute, None)
    if target is None or not callable(target):
        raise ConfigError(f"module '{module_name}' has no class '{attribute}'", file=file, key_path=key_path)
    return target


def _needs_tensorflow(path: str, source: str) -> str:
    """The message for a custom component built on TensorFlow: its file and class, and where the port is shown."""
    return (
        f"class '{path.rpartition('.')[2]}' of '{path}' needs TensorFlow: port it to PyTorch (docs/byoc.md); "
        f"{source} imports TensorFlow, which clara-tlt does not run"
    )


def build(
    spec: Any,
    kind: str,
    *,
    file: str,
    key_path: str,
    inject: Mapping[str, Any] | None = None,
    search_dirs: Iterable[Path] = (),
    origin: ModelFile | None = None,
) -> Any:
    """Build one component. `inject` holds runtime objects the config cannot name (an optimizer's `params`);
    each goes to a factory that takes an argument of its name (an lr policy's `steps_per_epoch`), else is left out.
    `origin`: the spec was read from this model file, so it is data (`component_origin`): its code folders
    stand for `search_dirs`, and specs built inside this one follow the same rules.

    Config `args` win over injected values of the same name. User mistakes raise `ConfigError` (exit 3): a
    wrong argument name or type, our factories' own `ConfigError`s, a library's rejection of an argument value
    (its `ValueError`/`TypeError`) and a missing optional package. An error raised inside our own code is a
    bug and propagates as it is.
    """
    if origin is not None:
        with from_model_file(origin):
            return build(spec, kind, file=file, key_path=key_path, inject=inject)
    normal = normalize_spec(spec, file=file, key_path=key_path)
    factory = resolve(normal, kind, file=file, key_path=key_path, search_dirs=search_dirs)
    takes = accepted_names(factory)
    offered = {k: v for k, v in (inject or {}).items() if takes is None or k in takes}
    args = {**offered, **normal.args}
    origin_now = current_model_file()
    if origin_now is not None and kind == "network":
        args = offline_args(factory, args, origin_now, key_path=key_path)
    label = f"{kind} '{normal.label}'"
    where = {"file": file, "key_path": child(key_path, "args")}
    check_arguments(factory, args, config_args=normal.args, label=label, file=file, key_path=key_path)
    try:
        return factory(**args)
    except ConfigError as exc:
        if exc.file is None:
            raise ConfigError(exc.reason, **where) from exc
        raise
    except ImportError as exc:
        package, importer = missing_package(exc), tensorflow_importer(exc)
        if importer is not None:  # a custom class importing TensorFlow when built
            raise ConfigError(_needs_tensorflow(normal.label, importer), **where) from exc
        if package is None:
            raise
        raise ConfigError(
            f"{label} needs the package '{package}', which is not installed; install it with "
            f"`pip install {PIP_NAMES.get(package, package)}`",
            **where,
        ) from exc
    except (TypeError, ValueError) as exc:
        if raised_in_our_code(exc):
            raise
        raise ConfigError(f"cannot build {label}: {exc}", **where) from exc
