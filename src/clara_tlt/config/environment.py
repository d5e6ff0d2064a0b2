"""environment.json: MMAR-relative paths, defaults, and the variables that commands set from their flags."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from clara_tlt.config.jsonfile import read_json
from clara_tlt.errors import ConfigError

# Clara 3.1's default for which datalist list validation and inference read.
DEFAULT_ENVIRONMENT: dict[str, Any] = {"DATA_LIST_KEY": "validation", "PROCESSING_TASK": "segmentation"}
# The variables engines read whether or not a config refers to them: `--set` may define them in any MMAR.
ENGINE_VARIABLES = frozenset(
    {
        "DATASET_JSON",
        "DATA_ROOT",
        "DATA_LIST_KEY",
        "MMAR_CKPT_DIR",
        "MMAR_CKPT",
        "MMAR_EVAL_OUTPUT_PATH",
        "MODEL_FILE_PATH",
        "MODEL_FORMAT",
        "PROCESSING_TASK",
    }
)
_PATH_SUFFIXES = ("_DIR", "_PATH", "_ROOT", "_JSON", "_FILE")


def is_path_variable(name: str) -> bool:
    """Names like MMAR_CKPT_DIR, DATA_ROOT, DATASET_JSON hold paths that are relative to the MMAR root."""
    return name.endswith(_PATH_SUFFIXES)


def resolve_paths(variables: dict[str, Any], root: Path | None) -> dict[str, Any]:
    """Make relative path variables absolute under `root` (the MMAR); empty values mean 'none' and stay empty."""
    if root is None:
        return dict(variables)
    resolved = {}
    for name, value in variables.items():
        if is_path_variable(name) and isinstance(value, str) and value and not Path(value).is_absolute():
            value = os.path.normpath(root / value)
        resolved[name] = value
    return resolved


def load_environment(path: str | Path | None, mmar_root: Path | None) -> dict[str, Any]:
    """Read environment.json (optional) into variables: defaults < file, with MMAR_ROOT and relative paths resolved."""
    variables: dict[str, Any] = dict(DEFAULT_ENVIRONMENT)
    if mmar_root is not None:
        variables["MMAR_ROOT"] = str(mmar_root)
    if path is not None:
        data = read_json(path)
        if not isinstance(data, dict):
            raise ConfigError("environment must be a JSON object of NAME: value pairs", file=str(path))
        for name, value in data.items():
            if isinstance(value, (dict, list)):
                raise ConfigError(
                    f"environment variable '{name}' must be a string, number or boolean, not {type(value).__name__}",
                    file=str(path),
                    key_path=name,
                )
        variables.update(data)
    return resolve_paths(variables, mmar_root)
