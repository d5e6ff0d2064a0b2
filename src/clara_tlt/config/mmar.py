"""Facts of the MMAR layout that several commands read: where an MMAR keeps its own code."""

from __future__ import annotations

from pathlib import Path

CODE_FOLDERS = ("custom", "lib")  # Clara's bring-your-own code folders, searched in this order


def code_folders(root: Path) -> tuple[Path, ...]:
    """`root/custom` and `root/lib`: where a `path` in a config (or a checkpoint's network) is imported from."""
    return tuple(root / name for name in CODE_FOLDERS)
