"""`--set KEY=VALUE` overrides: typed values, dotted keys into nested dicts, unknown keys refused."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from clara_tlt.config.suggest import did_you_mean
from clara_tlt.errors import ConfigError, UsageError

DISABLED = "disabled"
COMPONENT_KEYS = frozenset({"name", "path", "ref"})  # a dict with one of these is a component


@dataclass(frozen=True)
class Override:
    """One `--set` item: `key` is dotted (`train.loss.args.smooth`), `value` already typed."""

    key: str
    value: Any

    @property
    def parts(self) -> list[str]:
        return self.key.split(".")


def parse_value(text: str) -> Any:
    """`1` → 1, `1e-4` → 0.0001, `true` → True, `[1,2]` → [1, 2], `null` → None; anything else stays text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_overrides(items: Iterable[str]) -> list[Override]:
    """Parse `KEY=VALUE` strings; a missing `=` or an empty key is a usage error (exit 2)."""
    overrides = []
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise UsageError(
                f"--set {item!r}: expected KEY=VALUE, e.g. --set epochs=10 or --set train.loss.name=Dice"
            )
        overrides.append(Override(key, parse_value(raw.strip())))
    return overrides


def apply_override(config: dict[str, Any], override: Override, *, file: str) -> None:
    """Set `override.key` in `config` in place; every part of the dotted key must already exist, but a
    component's `disabled` (`--set train.loss.1.disabled=true`)."""
    node: Any = config
    parts = override.parts
    for depth, part in enumerate(parts):
        here = ".".join(parts[:depth]) or None
        last = depth == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(
                    f"--set {override.key}: '{part}' is not an index of this list (0..{len(node) - 1})",
                    file=file,
                    key_path=here,
                )
            index = int(part)
            if last:
                node[index] = override.value
            node = node[index]
            continue
        if last and part == DISABLED and isinstance(node, dict) and COMPONENT_KEYS & set(node):
            node[part] = override.value  # any component may be switched off, written or not
            return
        if not isinstance(node, dict) or part not in node:
            options = list(node) if isinstance(node, dict) else []
            raise ConfigError(
                f"--set {override.key}: no key '{part}' to override{did_you_mean(part, options)}"
                + (f" (keys here: {', '.join(options)})" if options and len(options) <= 20 else ""),
                file=file,
                key_path=here,
            )
        if last:
            node[part] = override.value
        node = node[part]
