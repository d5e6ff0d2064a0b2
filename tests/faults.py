"""Write faults injected in-process (CI runs as non-root, without a small tmpfs to fill): a disk that fills up
midway through Python's writes, an ITK writer that leaves a short file and returns, a device with no space."""

from __future__ import annotations

import builtins
import errno
import io
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import SimpleITK as sitk

TEMPORARY = ".incomplete"  # what atomic_path's temporary files have in their names


class _FullDiskFile(io.FileIO):
    """A file that accepts `room` bytes (shared by every such file), then raises ENOSPC as a full disk does."""

    room = 0

    def write(self, data: Any) -> int:
        size = len(memoryview(data).cast("B"))
        if size > _FullDiskFile.room:
            accepted = _FullDiskFile.room
            _FullDiskFile.room = 0
            if accepted:
                return super().write(memoryview(data).cast("B")[:accepted])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        _FullDiskFile.room -= size
        return super().write(data)


def fill_disk(
    monkeypatch: pytest.MonkeyPatch, *, room: int = 100, where: Callable[[str], bool] = lambda name: True
) -> None:
    """From now on, files opened for writing whose temporary name `where` accepts hold `room` bytes in all, and
    every write past that raises ENOSPC (through `open`, `Path.open`, `gzip.open`, a file object handed to
    `torch.save`); the device also reports no space free."""
    real_open = io.open
    _FullDiskFile.room = room

    def open_(file: Any, mode: str = "r", buffering: int = -1, *args: Any, **kwargs: Any) -> Any:
        name = os.fspath(file) if isinstance(file, (str, Path)) else ""
        if TEMPORARY not in name or not any(c in mode for c in "wax+") or not where(name):
            return real_open(file, mode, buffering, *args, **kwargs)
        raw = _FullDiskFile(name, mode.replace("t", "").replace("b", "") or "w")
        if buffering == 0:
            return raw
        buffered = io.BufferedWriter(raw)
        return buffered if "b" in mode else io.TextIOWrapper(buffered, *args, **kwargs)

    monkeypatch.setattr(io, "open", open_)
    monkeypatch.setattr(builtins, "open", open_)
    no_space(monkeypatch)


class _Usage(NamedTuple):
    total: int
    used: int
    free: int


def no_space(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every device reports no space free (as `shutil.disk_usage` sees it)."""
    monkeypatch.setattr(shutil, "disk_usage", lambda path: _Usage(1 << 30, 1 << 30, 0))


def short_itk_writes(monkeypatch: pytest.MonkeyPatch, *, keep: float = 0.5) -> None:
    """SimpleITK.WriteImage writes, then the file is cut to `keep` of its size, and no error is raised: what
    ITK does on a full disk (it prints "wrote only …" and returns)."""
    real_write = sitk.WriteImage

    def write(image: sitk.Image, path: Any, *args: Any, **kwargs: Any) -> None:
        real_write(image, path, *args, **kwargs)
        written = Path(str(path))
        for file in (written, written.with_suffix(".raw"), written.with_suffix(".zraw")):
            if file.is_file() and not file.name.endswith(".mhd"):
                os.truncate(file, int(file.stat().st_size * keep))

    monkeypatch.setattr(sitk, "WriteImage", write)


def leftovers(folder: Path) -> list[Path]:
    """Temporary files of atomic_path left anywhere under `folder`."""
    return [path for path in folder.rglob(f"*{TEMPORARY}*")]
