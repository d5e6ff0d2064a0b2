"""Atomic, checked writes: write to a unique temporary file beside the target, check it, rename it into place.

A crash or Ctrl-C leaves either the old file or the new one, never half of one. A write that fails (a full
disk, a quota, an I/O error, a writer that stops short without saying so, as ITK does) raises `WriteError`
naming the file and the folder's device; the temporary file is removed and an older file at the target kept.
Every writer gets this by writing through `atomic_path`: what it left is checked by the target's format
(`clara_tlt.written`) and flushed to the disk before the rename.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from clara_tlt.errors import ClaraError, WriteError
from clara_tlt.written import IncompleteWrite, check_size, check_written

# Errors of the device or the file system, never of the data being written: reported as a failed write.
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS})
# A writer that fails without an OS error (a C++ stream, ITK's short write) while less than this is free on the
# device met a full disk.
LOW_SPACE_BYTES = 1 << 20


@contextlib.contextmanager
def atomic_path(target: str | Path, *, check: Callable[[Path], None] | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; once the block is done and `check(temporary)` passes
    (default: `check_written` for the target's format) it replaces `target`; on any error it is removed.

    The temporary name keeps the target's suffixes (`.nii.gz`), so writers that choose a format by suffix work:
    `with atomic_path("out/ct.nii.gz") as tmp: nib.save(image, tmp)`. A failed write raises `WriteError`.
    """
    target = Path(target)
    temporary = _temporary_beside(target)
    try:
        yield temporary
        if check is None:
            check_written(temporary, target)
        else:
            check(temporary)
        _flush(temporary)
        os.replace(temporary, target)
    except BaseException as exc:
        error = write_failure(target, exc)  # before the unlink: the free space the writer met
        temporary.unlink(missing_ok=True)
        if error is None:
            raise
        raise error from exc


def _temporary_beside(target: Path) -> Path:
    """An empty `.<stem>.<random>.incomplete<suffix>` in the target's folder, made if need be."""
    suffix = "".join(target.suffixes[-2:]) if target.name.endswith((".nii.gz", ".tar.gz")) else target.suffix
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(
            prefix=f".{target.stem}.", suffix=f".incomplete{suffix}", dir=target.parent
        )
    except OSError as exc:
        raise WriteError(target, _reason(exc.errno or errno.EIO, target), kept=target.exists()) from exc
    os.close(fd)
    temporary = Path(name)
    os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; the file gets the mode open() would give
    return temporary


def _flush(path: Path) -> None:
    """fsync: the data is on the disk before the rename makes it the target (and late errors surface here)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_failure(target: Path, exc: BaseException) -> WriteError | None:
    """The WriteError that `exc`, raised while writing `target`, means; None when it is not a failed write
    (the data's own error, our own errors, Ctrl-C), which then propagates as it is."""
    if isinstance(exc, ClaraError) or not isinstance(exc, Exception):
        return None
    if isinstance(exc, IncompleteWrite):
        reason = _reason(errno.ENOSPC, target) if _device_full(target.parent) else "the writer stopped short"
        return WriteError(target, f"{reason} ({exc})", kept=target.exists())
    os_error = _os_error_in(exc)
    if os_error is not None:
        code = os_error.errno
        return (
            WriteError(target, _reason(code, target), kept=target.exists()) if code in WRITE_ERRNOS else None
        )
    if _device_full(target.parent):
        return WriteError(target, f"{_reason(errno.ENOSPC, target)} ({exc})", kept=target.exists())
    return None


def _os_error_in(exc: BaseException) -> OSError | None:
    """The OSError behind `exc`: itself, or one it was raised from or while handling (`torch.save` turns a
    failed `write` of its file object into a RuntimeError raised while handling the OSError)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, OSError) and current.errno is not None:
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _reason(code: int, target: Path) -> str:
    folder = target.parent
    if code == errno.ENOSPC:
        return f"no space left on the device holding {folder}"
    if code == errno.EDQUOT:
        return f"disk quota exceeded on the device holding {folder}"
    return f"{os.strerror(code)} (writing into {folder})"


def _device_full(folder: Path) -> bool:
    try:
        return shutil.disk_usage(folder).free < LOW_SPACE_BYTES
    except OSError:
        return False


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomic(target: str | Path, data: bytes) -> None:
    """Write `data` to `target` atomically; what landed is checked to be all of `data`."""

    with atomic_path(target, check=functools.partial(check_size, size=len(data))) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(target: str | Path, text: str) -> None:
    """Write UTF-8 `text` to `target` atomically."""
    write_bytes_atomic(target, text.encode("utf-8"))
