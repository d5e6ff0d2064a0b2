"""The model folder a training writes: where it is, whether it can be written, and one training at a time.

    folder = model_folder(config, given=None)      # -r / model_dir, else MMAR_CKPT_DIR, else MMAR/models
    with folder.lock(hold=True):                    # exit 2 naming the running training (pid, host, since)
        ...

The lock is `fcntl.flock` on `train.lock` in the folder: the OS releases it when the process ends, however it
ends (a kill -9 leaves no stale lock). flock belongs to an open file description, so a second `open()` of the
file conflicts even within one process.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import NoReturn

from clara_tlt.config.loader import ResolvedConfig
from clara_tlt.errors import UsageError

LOCK = "train.lock"
# What a training writes into the folder (atomic.py's temporaries are `.<stem>.<random>.incomplete<suffix>`).
WRITTEN_STEMS = ("model", "model_final", "train_state", "train_config", "train_summary")
LOCK_TRIES = 5  # a dry run's probe holds the lock for an instant: a starting training tries again that long
LOCK_RETRY_S = 0.05


@dataclass(frozen=True)
class ModelFolder:
    """`path` and `source`, the flag or variable that chose it (named in every message about the folder)."""

    path: Path
    source: str

    @contextlib.contextmanager
    def lock(self, *, hold: bool) -> Iterator[None]:
        """`hold`: take the folder's lock (making the folder) and keep it while the block runs; exit 2 naming the
        training that holds it. Without `hold` (dry run): only check that no training holds it."""
        if not hold:
            self._probe()
            yield
            return
        fd = self._open(os.O_RDWR | os.O_CREAT)
        try:
            self._take(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        try:
            os.ftruncate(fd, 0)
            os.write(fd, (json.dumps(_holder()) + "\n").encode())
            yield
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)  # also for forked data loader workers that share the descriptor
            os.close(fd)

    def remove_incomplete(self) -> list[Path]:
        """Remove the temporary files a killed training write left; call only while holding the lock."""
        leftovers = [p for stem in WRITTEN_STEMS for p in self.path.glob(f".{stem}.*.incomplete*")]
        for path in leftovers:
            path.unlink(missing_ok=True)
        return leftovers

    def _probe(self) -> None:
        """A shared lock taken and dropped at once: it conflicts with a running training's, never with a probe."""
        if not (self.path / LOCK).is_file():
            return  # a training makes the file before it locks it
        fd = self._open(os.O_RDONLY)
        try:
            self._take(fd, fcntl.LOCK_SH)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _open(self, flags: int) -> int:
        try:
            if flags & os.O_CREAT:
                self.path.mkdir(parents=True, exist_ok=True)
            return os.open(self.path / LOCK, flags, 0o666)
        except OSError as exc:
            self._refuse(f"{exc.filename or self.path}: {exc.strerror or exc}")

    def _take(self, fd: int, mode: int) -> None:
        for attempt in range(LOCK_TRIES):
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if attempt + 1 < LOCK_TRIES:
                    time.sleep(LOCK_RETRY_S)
        raise UsageError(
            f"another training is writing {self.path} ({self._holder_text()}); wait for it to end, or train into "
            f"another folder with {self.source}"
        )

    def _holder_text(self) -> str:
        try:
            holder = json.loads((self.path / LOCK).read_text())
            return f"pid {holder['pid']} on {holder['host']} since {holder['since']}"
        except (OSError, ValueError, KeyError, TypeError):
            return f"it is starting; {self.path / LOCK} does not say which yet"

    def _refuse(self, reason: str) -> NoReturn:
        raise UsageError(
            f"cannot write the model folder {self.path}: {reason}; give a writable folder with {self.source}"
        )


def model_folder(config: ResolvedConfig, given: str | Path | None) -> ModelFolder:
    """`given` (-r/--model_dir), else MMAR_CKPT_DIR, else the MMAR's `models/` folder."""
    if given:
        return ModelFolder(Path(given), "-r/--model_dir")
    variable = config.variables.get("MMAR_CKPT_DIR")
    if variable:
        return ModelFolder(Path(variable), "MMAR_CKPT_DIR (environment.json or --set MMAR_CKPT_DIR=…)")
    if config.mmar_root is None:
        raise UsageError("no model folder: give -r/--model_dir or set MMAR_CKPT_DIR in environment.json")
    return ModelFolder(
        config.mmar_root / "models", "MMAR_CKPT_DIR (environment.json or --set MMAR_CKPT_DIR=…)"
    )


def _holder() -> dict[str, object]:
    """What a refused training says about the one holding the lock."""
    since = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return {"pid": os.getpid(), "host": socket.gethostname(), "since": since}
