"""SIGINT (Ctrl-C) and SIGTERM ask the trainer to stop after the current iteration; a second one stops at once."""

from __future__ import annotations

import logging
import signal
from types import FrameType
from typing import Any

from clara_tlt.engines.trainer import Handler, Trainer

log = logging.getLogger(__name__)
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopOnSignal(Handler):
    def __init__(self) -> None:
        self.previous: dict[int, Any] = {}

    def started(self, trainer: Trainer) -> None:
        def request_stop(signum: int, frame: FrameType | None) -> None:
            if trainer.state.stop_requested:
                raise KeyboardInterrupt
            trainer.state.stop_requested = True
            log.warning("%s: finishing this iteration and saving the state", signal.Signals(signum).name)

        for signum in SIGNALS:
            self.previous[signum] = signal.signal(signum, request_stop)

    def _restore(self, trainer: Trainer) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        self.previous.clear()

    completed = interrupted = failed = _restore
