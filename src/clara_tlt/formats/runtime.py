"""The optional runtimes a model file needs (onnxruntime, tensorrt), imported when a file of theirs is read."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from clara_tlt.errors import ConfigError


def optional_module(module: str, path: Path) -> Any:
    """Import the runtime `path` needs; missing: a ConfigError (exit 3) with the install command."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(
            f"'{path}' needs the package '{module}'; install it with `pip install {module}`"
        ) from exc
