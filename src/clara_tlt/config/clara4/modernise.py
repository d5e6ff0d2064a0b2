"""Bring a Clara 4.x component spec, written for MONAI 0.5–0.8, to the names MONAI 1.6 uses (renames.py),
one log line per change, so the config runs as its authors wrote it.

>>> modernise({"name": "UNet", "args": {"dimensions": 3}}, kind="network", file="config_train.json",
...           key_path="train.model")
{'name': 'UNet', 'args': {'spatial_dims': 3}}
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from clara_tlt.config.clara4.lambdas import from_engine_form
from clara_tlt.config.clara4.refusal import Where
from clara_tlt.config.clara4.renames import EVERY_NAME, KINDS, TABLE, Change
from clara_tlt.config.keypath import child
from clara_tlt.errors import ConfigError, located

log = logging.getLogger("clara_tlt.config.clara4")
MONAI_PATH = "monai."  # a BYOC `path` into MONAI is modernised like a name; any other path is the user's code


@dataclass(frozen=True)
class _Place:
    """Where a spec stands, for the log lines and errors."""

    file: str
    key_path: str

    def note(self, key: str, change: str, since: str) -> None:
        log.info(
            "%s", located(f"{change} (MONAI {since})", file=self.file, key_path=child(self.key_path, key))
        )

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(message, file=self.file, key_path=child(self.key_path, key))


def modernise(spec: Mapping[str, Any], *, kind: str, file: str, key_path: str) -> dict[str, Any]:
    """`spec` with the names and arguments MONAI renamed since 0.5–0.8 in their 1.6 form; a name removed
    without a successor is a `ConfigError` (exit 3) saying what to write instead."""
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    result = dict(spec)
    name_key = "name" if isinstance(spec.get("name"), str) else "path"
    full = spec.get(name_key)
    if not isinstance(full, str) or (name_key == "path" and not full.startswith(MONAI_PATH)):
        return result
    prefix, _, name = full.rpartition(".")
    place = _Place(file, key_path)
    changes = _changes(kind, name)
    for change in changes:
        if change.removed:
            raise place.error(
                name_key, f"MONAI {change.since} removed {name} without a successor; {change.removed}"
            )
        if change.new_name:
            result[name_key] = f"{prefix}.{change.new_name}" if prefix else change.new_name
            place.note(name_key, f"{name} → {change.new_name}", change.since)
            changes += [c for c in _changes(kind, change.new_name) if c not in changes]
    if isinstance(spec.get("args"), Mapping):
        result["args"] = _modernise_args(spec["args"], changes, _Place(file, child(key_path, "args")))
    return result


def _changes(kind: str, name: str) -> list[Change]:
    """The changes that apply to `name` of `kind`: the kind's own, then the name's."""
    return [c for c in (TABLE.get((kind, EVERY_NAME)), TABLE.get((kind, name))) if c is not None]


def _modernise_args(args: Mapping[str, Any], changes: list[Change], place: _Place) -> dict[str, Any]:
    """The arguments renamed, dropped, defaulted and reshaped as `changes` say, each change logged."""
    result = dict(args)
    for change in changes:
        for old in change.dropped:
            if old in result:
                del result[old]
                place.note(old, f"{old} dropped (it no longer does anything)", change.since)
        for old, new in change.args.items():
            if old not in result:
                continue
            if new in result:
                raise place.error(old, f"{old} is MONAI 0.x's name for {new}, and both are given; keep {new}")
            result[new] = result.pop(old)
            place.note(old, f"{old} → {new}", change.since)
        for key, value in change.defaults.items():
            if key not in result:
                result[key] = value
                place.note(key, f"{key}={value!r} added (what MONAI 0.x did without it)", change.since)
        if change.reshape:
            result = RESHAPES[change.reshape](result, place, change.since)
    return result


def _as_discrete(args: dict[str, Any], place: _Place, since: str) -> dict[str, Any]:
    """AsDiscrete(d)'s 0.x forms: `to_onehot: true` with `n_classes`/`num_classes` → `to_onehot: N`,
    `threshold_values: true` with `logit_thresh` → `threshold`; lists of per-key values stay per key."""
    result = dict(args)
    classes = result.pop("n_classes", result.pop("num_classes", None))
    if "to_onehot" in result:
        onehot = _per_key(result["to_onehot"], classes, lambda flag, n: _onehot(flag, n, place))
        if onehot != result["to_onehot"]:
            place.note(
                "to_onehot", f"to_onehot={result['to_onehot']!r} with {classes!r} classes → {onehot!r}", since
            )
        result["to_onehot"] = onehot
    elif classes is not None:
        place.note("n_classes", "n_classes dropped (it only counted with to_onehot)", since)
    flags, cutoff = result.pop("threshold_values", None), result.pop("logit_thresh", 0.5)
    if flags is not None:
        result["threshold"] = _per_key(flags, cutoff, lambda flag, at: at if flag else None)
        place.note(
            "threshold_values", f"threshold_values/logit_thresh → threshold={result['threshold']!r}", since
        )
    return result


def _onehot(flag: Any, classes: Any, place: _Place) -> Any:
    """`to_onehot` as MONAI 1.x takes it: the number of classes, or None."""
    if not isinstance(flag, bool):
        return flag  # already a number (or None)
    if flag and classes is None:
        raise place.error("to_onehot", 'to_onehot: true needs the number of classes; write "to_onehot": N')
    return classes if flag else None


def _per_key(value: Any, other: Any, combine: Callable[[Any, Any], Any]) -> Any:
    """combine(value, other) for one key, or item by item where either is a per-key list."""
    if not isinstance(value, list) and not isinstance(other, list):
        return combine(value, other)
    length = max(len(v) for v in (value, other) if isinstance(v, list))
    return [combine(_item(value, i), _item(other, i)) for i in range(length)]


def _item(value: Any, index: int) -> Any:
    return value[index] if isinstance(value, list) and index < len(value) else value


def _pool(args: dict[str, Any], place: _Place, since: str) -> dict[str, Any]:
    """TorchVisionFullyConvModel's `pool_size`/`pool_stride` → TorchVisionFCModel's `pool`."""
    result = dict(args)
    if "pool_size" in result or "pool_stride" in result:
        size, stride = result.pop("pool_size", (7, 7)), result.pop("pool_stride", 1)
        result["pool"] = ("avg", {"kernel_size": size, "stride": stride})
        place.note("pool_size", f"pool_size/pool_stride → pool={result['pool']!r}", since)
    return result


def _batched(args: dict[str, Any], place: _Place, since: str) -> dict[str, Any]:
    """An `output_transform` lambda written for 0.5's batch dict → `from_engine`, which reads 0.6+'s decollated
    list of dicts (the 4.1 migration's form); other lambdas and values stay as written."""
    text = args.get(OUTPUT_TRANSFORM)
    if not isinstance(text, str):
        return args
    where = Where(place.file, child(place.key_path, OUTPUT_TRANSFORM), text)
    adapted = from_engine_form(text, where)
    if adapted is None:
        return args
    place.note(OUTPUT_TRANSFORM, f"{text} → {adapted} (engines hand handlers a list of dicts)", since)
    return {**args, OUTPUT_TRANSFORM: adapted}


OUTPUT_TRANSFORM = "output_transform"
RESHAPES: Mapping[str, Callable[[dict[str, Any], _Place, str], dict[str, Any]]] = {
    "as_discrete": _as_discrete,
    "pool": _pool,
    "batched": _batched,
}
