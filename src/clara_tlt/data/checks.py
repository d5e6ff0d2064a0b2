"""Check a datalist against the config before any work: the list is not empty, every field a loader reads is
there, every file it names can be read whole (headers, data lengths, compressed streams: `io.whole`, no voxel
decoded), and the files of one entry (an image and its label, channel files) lie on one grid (`io.grid`).

Run by the workflow builder, so `--dry-run`, `train` (before its first epoch), `evaluate` and `infer` all stop
on a bad entry, naming the entry, the field and the file, every bad one at once.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from clara_tlt.config.slots import network_spec
from clara_tlt.data.datalist import path_values
from clara_tlt.errors import ConfigError, ImageReadError, NoInputError
from clara_tlt.io.grid import DIRECTION_TOLERANCE, ORIGIN_TOLERANCE, SPACING_TOLERANCE, Grid
from clara_tlt.io.whole import check_whole

CHECK_THREADS = min(8, os.cpu_count() or 1)


def loaded_fields(transforms: Iterable[Any]) -> list[str]:
    """The sample fields the loading transforms of a chain read from the datalist (Clara's `fields`, MONAI's `keys`)."""
    from monai.transforms import LoadImaged

    from clara_tlt.transforms.io import LoadImageFields

    fields: list[str] = []
    for transform in transforms:
        if isinstance(transform, LoadImageFields):
            fields += transform.fields
        elif isinstance(transform, LoadImaged):
            fields += [str(key) for key in transform.keys]
    return list(dict.fromkeys(fields))


def check_entries(
    entries: Sequence[dict[str, Any]],
    fields: Sequence[str],
    *,
    datalist: str,
    key: str,
    config_file: str,
    loader: str,
    compare_grids: bool = True,
) -> None:
    """Raise `NoInputError` (exit 4) for an empty list, files that cannot be read whole, or (`compare_grids`)
    an image and its label on different grids; `ConfigError` (exit 3) when the loader at key path `loader` of
    `config_file` reads a field the entries lack. Every problem is reported at once, every bad file named."""
    if not entries:
        raise NoInputError(
            f"{datalist}: the list '{key}' is empty; add entries or choose another DATA_LIST_KEY"
        )
    missing_fields = [
        f"  {key}[{index}] has no '{field}' (its fields: {', '.join(entry)})"
        for index, entry in enumerate(entries)
        for field in fields
        if field not in entry
    ]
    if missing_fields:
        raise ConfigError(
            f"loads field(s) {', '.join(fields)}, which entries of {datalist} lack:\n"
            + _first(missing_fields)
            + "\nFix the field names in the config or in the datalist",
            file=config_file,
            key_path=loader,
        )
    files = [
        (index, field, path)
        for index, entry in enumerate(entries)
        for field in fields
        for path in path_values(entry[field])
    ]
    with ThreadPoolExecutor(CHECK_THREADS) as pool:  # zlib and file reads release the GIL
        results = list(pool.map(_inspect, (path for _, _, path in files)))
    unreadable = [
        f"  {key}[{index}].{field}: {result}"
        for (index, field, _), result in zip(files, results, strict=True)
        if isinstance(result, str)
    ]
    mismatched = _grid_mismatches(files, results, key=key) if compare_grids else []
    if unreadable or mismatched:
        raise NoInputError(f"{datalist}: " + _problems(unreadable, mismatched))


def _problems(unreadable: list[str], mismatched: list[str]) -> str:
    """The message listing every unreadable file and every image/label grid mismatch, each with its fix."""
    problems = []
    if unreadable:
        problems.append(
            f"{len(unreadable)} file(s) cannot be read whole:\n" + "\n".join(unreadable) + "\n"
            "Re-copy or fix those files, or remove their entries"
        )
    if mismatched:
        problems.append(
            f"{len(mismatched)} case(s) whose image and label lie on different grids (tolerances: spacing "
            f"{SPACING_TOLERANCE:g} relative, origin {ORIGIN_TOLERANCE:g} × spacing, direction "
            f"{DIRECTION_TOLERANCE:g}):\n" + "\n".join(mismatched) + "\n"
            "Resample the label onto its image's grid (or correct the header that is wrong), or remove the entries"
        )
    return "\n".join(problems)


def _inspect(path: str) -> Grid | str | None:
    """The grid of the image at `path` (None: it has none), or why it cannot be read whole, naming it."""
    try:
        return check_whole(path)
    except (ImageReadError, OSError) as exc:
        message = str(exc).strip()
        return message if message.startswith(path) else f"{path}: {message}"


def _grid_mismatches(
    files: list[tuple[int, str, str]], results: list[Grid | str | None], *, key: str
) -> list[str]:
    """One line per file whose grid differs from the first image file of its entry, with both grids."""
    first: dict[int, tuple[str, str, Grid]] = {}
    lines = []
    for (index, field, path), grid in zip(files, results, strict=True):
        if not isinstance(grid, Grid):
            continue
        if index not in first:
            first[index] = (field, path, grid)
            continue
        first_field, first_path, first_grid = first[index]
        difference = first_grid.mismatch(grid)
        if difference:
            lines.append(
                f"  {key}[{index}]: {difference}:\n    {first_field} {first_path}: {first_grid.describe()}\n"
                f"    {field} {path}: {grid.describe()}"
            )
    return lines


def _first(lines: list[str], shown: int = 20) -> str:
    more = f"\n  … and {len(lines) - shown} more" if len(lines) > shown else ""
    return "\n".join(lines[:shown]) + more


CLASS_ARGS = ("num_classes", "out_channels")  # Clara's networks, MONAI's


def network_classes(config: dict[str, Any]) -> int | None:
    """The classes the training network tells apart (its spec's `num_classes`, MONAI's `out_channels`; the spec
    where `network_spec` finds it); None when the config does not say. A one-channel (sigmoid) output tells 2
    apart."""
    spec = network_spec(config)[0]
    args = spec.get("args", spec) if isinstance(spec, dict) else None
    for name in CLASS_ARGS:
        value = args.get(name) if isinstance(args, dict) else None
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return max(value, 2)
    return None
