"""Check a datalist against the config before any work: every field a loader reads is there, every file it
names is an image we can read (its header, not its voxels), and the list is not empty.

Run by the workflow builder, so `--dry-run` and `train` (before its first epoch) both stop on a bad entry,
naming the entry, the field and the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from clara_tlt.data.datalist import path_values
from clara_tlt.errors import ConfigError, NoInputError
from clara_tlt.io.arrays import array_suffix
from clara_tlt.io.dicom_files import find_dicom_files, looks_like_dicom
from clara_tlt.io.image import NUMPY_SUFFIXES


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
) -> None:
    """Raise `NoInputError` (exit 4) for an empty list or unreadable files, `ConfigError` (exit 3) when the
    loader at key path `loader` of `config_file` reads a field the entries lack. Every problem is reported at once."""
    if not entries:
        raise NoInputError(
            f"{datalist}: the list '{key}' is empty; add entries or choose another DATA_LIST_KEY"
        )
    missing_fields, unreadable = [], []
    for index, entry in enumerate(entries):
        for field in fields:
            if field not in entry:
                missing_fields.append(f"  {key}[{index}] has no '{field}' (its fields: {', '.join(entry)})")
                continue
            for path in path_values(entry[field]):
                reason = unreadable_reason(Path(path))
                if reason:
                    unreadable.append(f"  {key}[{index}].{field}: {path}: {reason}")
    if missing_fields:
        raise ConfigError(
            f"loads field(s) {', '.join(fields)}, which entries of {datalist} lack:\n"
            + _first(missing_fields)
            + "\nFix the field names in the config or in the datalist",
            file=config_file,
            key_path=loader,
        )
    if unreadable:
        raise NoInputError(
            f"{datalist}: {len(unreadable)} file(s) cannot be read as images:\n"
            + _first(unreadable)
            + "\nFix or remove those entries"
        )


def unreadable_reason(path: Path) -> str | None:
    """Why `path` is not an image we can read (from its header or its folder), or None when it looks fine."""
    if path.is_dir():
        return (
            None if find_dicom_files(path) else "a folder without DICOM files (a series folder is expected)"
        )
    if not path.is_file():
        return "does not exist"
    suffix = array_suffix(path)
    if not suffix:
        return None if looks_like_dicom(path) else "not an image format clara-tlt reads (unknown suffix)"
    try:
        if suffix in NUMPY_SUFFIXES:
            np.load(path, mmap_mode="r", allow_pickle=False)
        else:
            reader = sitk.ImageFileReader()
            reader.SetFileName(str(path))
            reader.ReadImageInformation()
    except Exception as exc:
        first_line = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        return f"unreadable ({first_line})"
    return None


def _first(lines: list[str], shown: int = 20) -> str:
    more = f"\n  … and {len(lines) - shown} more" if len(lines) > shown else ""
    return "\n".join(lines[:shown]) + more
