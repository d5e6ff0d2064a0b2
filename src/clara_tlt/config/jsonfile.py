"""Strict JSON reading for configs, environments and datalists: duplicate keys and syntax errors name the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from clara_tlt.errors import ConfigError


def _reject_duplicates(file: str):
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                raise ConfigError(
                    f"duplicate key '{key}' (JSON keeps only the last one silently); remove one of them",
                    file=file,
                )
            result[key] = value
        return result

    return hook


def read_json(path: str | Path, *, error: type[ConfigError] = ConfigError) -> Any:
    """Parse a JSON file; missing files, syntax errors and duplicate keys raise `error` naming the file."""
    path = Path(path)
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error("file not found; check the path", file=name) from None
    except IsADirectoryError:
        raise error("is a folder, expected a JSON file", file=name) from None
    except UnicodeDecodeError as exc:
        raise error(f"not UTF-8 text ({exc.reason}); save the file as UTF-8 JSON", file=name) from None
    try:
        return json.loads(text, object_pairs_hook=_reject_duplicates(name))
    except json.JSONDecodeError as exc:
        raise error(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", file=name) from None


def parse_json(text: str, file: str) -> Any:
    """Parse JSON text held in memory with the same strictness as `read_json`."""
    try:
        return json.loads(text, object_pairs_hook=_reject_duplicates(file))
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", file=file
        ) from None
