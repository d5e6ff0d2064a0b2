"""Where a component spec came from, and what a spec read from a model file may name.

A config file the user runs is trusted: its `path`s import their code. A model file (the `train_conf` inside a
`model.pt`, from a registry, a colleague or a pulled MMAR) is data, never code: while `from_model_file(...)` is
in force, `components.resolve` accepts only registered names and the library classes of `FALLBACKS`, and a
`path` only where it names a module file inside the `custom/` or `lib/` folder of the MMAR the command runs in
(`-m`, which the user chose to run). Everything is checked before anything is imported. Nor does building such
a spec go online: the arguments by which a library network downloads weights (`DOWNLOAD_ARGS`) are turned
off, since the trained weights come from the model file itself.

    with from_model_file(ModelFile("models/model.pt", code_dirs=(mmar / "custom", mmar / "lib"))):
        network = build(spec, "network", file="models/model.pt", key_path="train_conf.train.model")
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType
from typing import Any

from clara_tlt.errors import ConfigError
from clara_tlt.factory.arguments import signature_of

log = logging.getLogger(__name__)

FIX = (
    "Name the network in your own config instead (a `model` section in the config given with -c or --config), "
    "or put its module in the custom/ folder of the MMAR and run the command with -m MMAR"
)

# Arguments by which a network fetches weights from the internet when built (MONAI 1.6: `pretrained` of the
# DenseNet, SENet, EfficientNet, ResNet-feature, FlexibleUNet, MILModel, AHNet and TorchVisionFCModel families,
# HoVerNet's `pretrained_url`, TorchVisionFCModel's `weights`; Clara's `pretrain_weight_url`).
DOWNLOAD_ARGS = ("pretrained", "pretrained_url", "pretrain_weight_url", "weights")


@dataclass(frozen=True)
class ModelFile:
    """A model file whose specs are data: `code_dirs` are the MMAR folders a `path` may import from; `fix` is
    the way out that the refusal gives (the flags of the command at hand)."""

    file: str
    code_dirs: tuple[Path, ...] = ()
    fix: str = FIX


_current: ContextVar[ModelFile | None] = ContextVar("clara_tlt_model_file", default=None)


@contextmanager
def from_model_file(origin: ModelFile) -> Iterator[None]:
    """Build under `origin`'s rules, nested builds (a factory that builds a spec of its own) included."""
    token = _current.set(origin)
    try:
        yield
    finally:
        _current.reset(token)


def current_model_file() -> ModelFile | None:
    """The model file whose spec is being built, or None for a trusted config."""
    return _current.get()


def refusal(origin: ModelFile, what: str, *, kind: str, key_path: str) -> ConfigError:
    """The error for a spec that a model file may not hold: names the file and key, says why and the way out."""
    return ConfigError(
        f"{what} is refused: a model file is data, never code, so it may name only registered components "
        f"(`clara-tlt components {kind}`) and the library classes they fall back to. {origin.fix}",
        file=origin.file,
        key_path=key_path,
    )


def checked_code_folder(module_name: str, origin: ModelFile, *, kind: str, key_path: str) -> Path:
    """The code folder holding `module_name`'s file, found without importing anything; refused when the
    module is not a file inside one of `origin.code_dirs`, or when its top-level name is already taken by
    another module (imported before, or a built-in) that the import would return instead."""
    parts = module_name.split(".")
    what = f"\"path\" into module '{module_name}'"
    if not all(part.isidentifier() for part in parts):
        raise refusal(origin, what, kind=kind, key_path=key_path)
    for folder in origin.code_dirs:
        root = folder.resolve()
        if _module_file(root, parts) is None:
            continue
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))
        importlib.invalidate_caches()
        found = _top_level_spec(parts[0])
        if found is None or not found.has_location or not _inside(Path(str(found.origin)), origin.code_dirs):
            where = found.origin if found is not None else None
            raise refusal(
                origin,
                f"{what} (its top-level name '{parts[0]}' is taken by {where or 'another module'})",
                kind=kind,
                key_path=key_path,
            )
        return root
    folders = ", ".join(f"{d}/" for d in origin.code_dirs) or "no MMAR: a lone model file imports nothing"
    raise refusal(origin, f"{what} outside the MMAR's code folders ({folders})", kind=kind, key_path=key_path)


def _top_level_spec(name: str) -> ModuleSpec | None:
    """What `import name` would load (the module already imported, else the first finder's); for a top-level
    name this imports nothing."""
    try:
        return importlib.util.find_spec(name)
    except ValueError:  # imported, with no spec (`__main__` run as a script)
        return None


def _module_file(root: Path, parts: list[str]) -> Path | None:
    """`root/a/b.py` or `root/a/b/__init__.py` for `a.b`, every package a regular one (an `__init__.py`), all
    inside `root` once links are followed."""
    if not root.is_dir():
        return None
    for depth in range(1, len(parts)):
        if not (root.joinpath(*parts[:depth]) / "__init__.py").is_file():
            return None
    base = root.joinpath(*parts)
    for candidate in (base.parent / f"{parts[-1]}.py", base / "__init__.py"):
        if candidate.is_file() and candidate.resolve().is_relative_to(root):
            return candidate
    return None


def _inside(file: Path, folders: tuple[Path, ...]) -> bool:
    resolved = file.resolve()
    return any(resolved.is_relative_to(folder.resolve()) for folder in folders)


def check_imported(module: ModuleType, target: Any, origin: ModelFile, *, kind: str, key_path: str) -> None:
    """After the import: the module and the object it names were both defined inside the MMAR's code folders
    (not, say, `subprocess.Popen` imported into a custom module)."""
    defined_in = inspect.getmodule(target)
    for each in (module, defined_in):
        file = getattr(each, "__file__", None)
        if file is None or not _inside(Path(file), origin.code_dirs):
            raise refusal(
                origin,
                f"\"path\" to '{getattr(target, '__qualname__', target)}' of module "
                f"'{getattr(each, '__name__', '?')}' ({file or 'built in'}), which is not the MMAR's code,",
                kind=kind,
                key_path=key_path,
            )


def offline_args(factory: Any, args: dict[str, Any], origin: ModelFile, *, key_path: str) -> dict[str, Any]:
    """`args` of a network read from `origin` with every `DOWNLOAD_ARGS` that `factory` takes turned off (False
    or None), whether given or on by default (`EfficientNetBN`'s `pretrained=True`): the trained weights come
    from the model file itself, and a file someone handed the user must not send the machine online."""
    signature = signature_of(factory)  # with what it forwards
    if signature is None:
        return args
    parameters = signature.parameters
    offline = dict(args)
    for name in (n for n in DOWNLOAD_ARGS if n in parameters):
        value = args.get(name, parameters[name].default)
        if not value or value is inspect.Parameter.empty:
            continue
        offline[name] = False if isinstance(value, bool) else None
        log.info(
            "%s: %s.args.%s=%r not honoured: the trained weights come from the model file itself, so nothing "
            "is downloaded",
            origin.file,
            key_path,
            name,
            value,
        )
    return offline
