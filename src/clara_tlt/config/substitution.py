"""`{NAME}` substitution: whole-string references keep the variable's type, embedded ones become text."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from clara_tlt.config.keypath import child
from clara_tlt.config.suggest import did_you_mean
from clara_tlt.errors import ConfigError

_REFERENCE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def substitute(value: Any, variables: Mapping[str, Any], *, file: str, key_path: str = "") -> Any:
    """Return `value` with every `{NAME}` replaced from `variables`, recursing into lists and dicts.

    `"{learning_rate}"` alone becomes the variable itself (a number stays a number); `"{MMAR_CKPT_DIR}/model.pt"`
    becomes a string. An unknown name raises `ConfigError` naming the file and key path.
    """
    if isinstance(value, dict):
        return {k: substitute(v, variables, file=file, key_path=child(key_path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, variables, file=file, key_path=child(key_path, i)) for i, v in enumerate(value)]
    if not isinstance(value, str) or "{" not in value:
        return value
    whole = _REFERENCE.fullmatch(value)
    if whole:
        return _lookup(whole.group(1), variables, file, key_path)

    def replace(match: re.Match[str]) -> str:
        found = _lookup(match.group(1), variables, file, key_path)
        return found if isinstance(found, str) else json.dumps(found)

    return _REFERENCE.sub(replace, value)


def referenced_names(value: Any) -> set[str]:
    """Every NAME that `value` refers to as `{NAME}`, in its strings, lists and dicts (keys excluded)."""
    if isinstance(value, dict):
        return set().union(*(referenced_names(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(referenced_names(v) for v in value))
    return set(_REFERENCE.findall(value)) if isinstance(value, str) else set()


def _lookup(name: str, variables: Mapping[str, Any], file: str, key_path: str) -> Any:
    if name in variables:
        return variables[name]
    optional = f" (or --set {name}= for none, e.g. no pretrained weights)" if name.endswith("_FILE") else ""
    raise ConfigError(
        f"unknown variable '{{{name}}}'{did_you_mean(name, variables)}; define {name} in environment.json, "
        f"as a global variable at the top of the config, or with --set {name}=VALUE{optional}",
        file=file,
        key_path=key_path,
    )
