"""Download progress: a tqdm bar with size and speed on a terminal, a log line every few seconds otherwise."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from clara_tlt.hub.download import human_size

log = logging.getLogger("clara_tlt.hub")


class TransferProgress:
    """Counts bytes and files of one pull. `advance(-n)` takes bytes back when a file starts over."""

    def __init__(
        self, total: int | None, files: int, *, terminal: bool | None = None, every: float = 5.0
    ) -> None:
        self.total = total
        self.files = files
        self.done_bytes = 0
        self.done_files = 0
        self.started = time.monotonic()
        self._last_log = self.started
        self._every = every
        self._bar: Any = None
        size = human_size(total) if total is not None else "unknown"
        log.info("%d files to download, total size - %s", files, size)
        if terminal if terminal is not None else sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                file=sys.stderr,
                desc=f"{files} file{'s' * (files != 1)}",
                dynamic_ncols=True,
            )

    def advance(self, n: int) -> None:
        self.done_bytes += n
        if self._bar is not None:
            self._bar.update(n)
        elif time.monotonic() - self._last_log >= self._every:
            self._log_line()

    def file_done(self) -> None:
        self.done_files += 1

    def _log_line(self) -> None:
        self._last_log = time.monotonic()
        elapsed = max(self._last_log - self.started, 1e-9)
        log.info(
            "Downloaded %s, %d files in %.0fs Download speed: %s/s",
            human_size(self.done_bytes),
            self.done_files,
            elapsed,
            human_size(self.done_bytes / elapsed),
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        else:
            self._log_line()
