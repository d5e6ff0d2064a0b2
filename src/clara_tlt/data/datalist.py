"""datalist.json (seed 003 §5.2): lists of `{"image": ..., "label": ...}` entries with paths made absolute."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from clara_tlt.config.jsonfile import read_json
from clara_tlt.config.suggest import did_you_mean
from clara_tlt.errors import ConfigError, NoInputError

PATH_FIELDS = ("image", "label")
T = TypeVar("T")


def load_datalist(
    path: str | Path,
    key: str = "training",
    *,
    base_dir: str | Path | None = None,
    path_fields: tuple[str, ...] = PATH_FIELDS,
    check_files: bool = True,
) -> list[dict[str, Any]]:
    """The entries of list `key`, with path fields (a string or a list of strings) made absolute.

    Relative paths are taken from `base_dir` (`data_file_base_dir`, `--file_root`), else from the datalist's
    folder. With `check_files`, every missing file of every entry is reported at once (exit 4) with its index.
    Example: `load_datalist("data/datalist.json", "validation")[0]["image"]`.
    """
    path = Path(path)
    data = read_json(path)
    name = str(path)
    if not isinstance(data, dict):
        raise ConfigError(
            'a datalist must be a JSON object such as {"training": [...], "validation": [...]}', file=name
        )
    if key not in data:
        lists = [k for k, v in data.items() if isinstance(v, list)]
        raise ConfigError(
            f"no list '{key}' in the datalist{did_you_mean(key, lists) or '.'} Lists present: {', '.join(lists) or 'none'}; "
            "choose one with data_list_key / DATA_LIST_KEY",
            file=name,
        )
    entries = data[key]
    if not isinstance(entries, list):
        raise ConfigError(f"'{key}' must be a list of entries", file=name, key_path=key)
    root = Path(base_dir) if base_dir else path.parent
    resolved = [
        _resolve_entry(entry, index, root, path_fields, name, key) for index, entry in enumerate(entries)
    ]
    if check_files:
        missing = [
            f"  {key}[{index}].{field}: {file}"
            for index, entry in enumerate(resolved)
            for field in path_fields
            for file in path_values(entry.get(field))
            if not Path(file).exists()
        ]
        if missing:
            raise NoInputError(
                f"{name}: {len(missing)} file(s) named in '{key}' do not exist (paths relative to {root}):\n"
                + "\n".join(missing)
                + "\nFix the paths, or point data_file_base_dir / DATA_ROOT / --file_root at the data folder"
            )
    return resolved


def _resolve_entry(
    entry: Any, index: int, root: Path, fields: tuple[str, ...], name: str, key: str
) -> dict[str, Any]:
    if isinstance(entry, str):  # a bare path means an image-only entry
        entry = {"image": entry}
    if not isinstance(entry, dict):
        raise ConfigError(
            'an entry must be an object such as {"image": ...}', file=name, key_path=f"{key}[{index}]"
        )
    resolved = dict(entry)
    for field in fields:
        value = entry.get(field)
        if isinstance(value, str):
            resolved[field] = str(root / value)
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            resolved[field] = [str(root / v) for v in value]
    return resolved


def path_values(value: Any) -> list[str]:
    """The paths an entry's field holds: a string, or a list of strings (channels); nothing otherwise."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return []


def shard_entries(entries: Sequence[T], rank: int, world_size: int, *, pad: bool) -> list[T]:
    """Rank `rank`'s entries (or shard `rank` of `world_size` of `--shard`, of any items): every `world_size`-th from `rank`. With `pad`, shards are made equally long by
    repeating entries from the start (as torch's DistributedSampler does), so each rank runs the same number of
    training iterations; unpadded (validation) shards count each case once."""
    if world_size <= 1:
        return list(entries)
    items = list(entries)
    if pad and len(items) % world_size:
        missing = world_size - len(items) % world_size
        items += (items * (missing // len(items) + 1))[:missing]
    return items[rank::world_size]
