"""Where a command's time goes: one process-wide timer that the engines mark their stages with (`--profile`).

Off (the default) the timer is `NULL`: its `stage()` hands back one shared context manager that does nothing,
`iterate()` and `expect()` hand back what they were given, so an engine pays one attribute lookup and one
empty `with` per stage (tens of nanoseconds; docs/performance.md). On, a `Profile` keeps per stage:

- wall time: its part of the command's wall-clock time. Stages that run at the same time on other threads
  (the predictor reads and writes cases beside the network) share the time they overlap equally, so the
  stages and "other" add up to the command's wall time;
- busy time: the time a thread spent in it (above the wall time when it overlapped others);
- calls, and for stages marked `cuda`, device time from CUDA events.

A stage entered inside another (the network's forward inside the scanning window) pauses the outer one: each
second is counted once, in the innermost stage. Imports made while a profile is on (the commands load torch
and MONAI when they start their work) are the stage "imports", wherever they happen.

>>> with profiling() as profile:
...     with current().stage(READ):
...         pass
>>> [row["stage"] for row in profile.summary()["stages"]]
['read/decode', 'other']
"""

from __future__ import annotations

import builtins
import os
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

START_UP, IMPORTS, SET_UP, OTHER = "start-up", "imports", "set-up", "other"
READ, PRE, FORWARD, STITCH = "read/decode", "pre-transforms", "network forward", "window stitching"
POST, RESAMPLE_BACK, WRITE, SCORE, REPORTS = "post-transforms", "resample back", "write", "scoring", "reports"
DATA_WAIT, STEP, VALIDATION = "data wait", "backward/optimizer step", "validation"
CHECKPOINT, HANDLERS = "checkpoint writes", "handlers"
SCAN, RESAMPLE, WORKERS = "scan inputs", "resample", "worker processes"
# The order rows are listed in: a command's stages in the order its data goes through them.
ORDER = (
    *(
        START_UP,
        IMPORTS,
        SET_UP,
        SCAN,
        DATA_WAIT,
        READ,
        PRE,
        RESAMPLE,
        FORWARD,
        STEP,
        STITCH,
        POST,
        RESAMPLE_BACK,
    ),
    *(WRITE, SCORE, REPORTS, VALIDATION, HANDLERS, CHECKPOINT, WORKERS),
)
CUDA_BACKLOG = 4096  # pending CUDA event pairs resolved at once (one synchronisation) beyond this many

_NOTHING: AbstractContextManager[None] = nullcontext()


class NullProfile:
    """The timer when `--profile` is off: every method hands back what costs nothing."""

    on = False

    def stage(self, name: str, *, cuda: bool = False) -> AbstractContextManager[None]:
        return _NOTHING

    def iterate(self, items: Iterable[Any], name: str) -> Iterable[Any]:
        return items

    def expect(self, *names: str) -> None:
        """Nothing to list."""

    def absorb(self, stages: Mapping[str, tuple[float, int]], *, within: str, workers: int) -> None:
        """Nothing to spread."""


NULL = NullProfile()
_current: NullProfile | Profile = NULL


def current() -> NullProfile | Profile:
    """The timer of the command running in this process: `NULL` unless a profile is on."""
    return _current


class _Stage:
    """`with profile.stage(name):` — enter and leave one stage on this thread."""

    __slots__ = ("_cuda", "_events", "_name", "_profile")

    def __init__(self, profile: Profile, name: str, cuda: bool) -> None:
        self._profile, self._name, self._cuda, self._events = profile, name, cuda, None

    def __enter__(self) -> None:
        if self._cuda:
            self._events = self._profile.device_start()
        self._profile.enter(self._name)

    def __exit__(self, *exc: object) -> None:
        self._profile.leave()
        if self._events is not None:
            self._profile.device_end(self._name, self._events)


class Profile:
    """Wall, busy and device time per stage of one command (module docstring); `summary()` at the end."""

    on = True

    def __init__(self, *, start_up: float | None = None) -> None:
        """`start_up`: seconds the process ran before the command (interpreter, imports), when known."""
        self.start_up = start_up
        self.started = self._last = time.perf_counter()
        self.wall: defaultdict[str, float] = defaultdict(float)
        self.busy: defaultdict[str, float] = defaultdict(float)
        self.calls: defaultdict[str, int] = defaultdict(int)
        self.device: defaultdict[str, float] = defaultdict(float)
        self._active: defaultdict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._pending: list[tuple[str, Any, Any]] = []
        self._torch = _cuda_torch()
        self.expect(IMPORTS)
        if self._torch is not None and self._torch.cuda.is_initialized():
            self._torch.cuda.reset_peak_memory_stats()

    def stage(self, name: str, *, cuda: bool = False) -> _Stage:
        """Time what the `with` block does as stage `name`; `cuda`: also its device time (on a CUDA device)."""
        if cuda and self._torch is None:  # torch is imported after the profile starts (by the command)
            self._torch = _cuda_torch()
        return _Stage(self, name, cuda and self._torch is not None)

    def iterate(self, items: Iterable[Any], name: str) -> Iterator[Any]:
        """Yield from `items`, timing each fetch as stage `name` (a training loop's data wait)."""
        iterator = iter(items)
        while True:
            with self.stage(name):
                item = next(iterator, _END)
            if item is _END:
                return
            yield item

    def expect(self, *names: str) -> None:
        """List `names` in the table even when they take no time (a config without resampling back)."""
        for name in names:
            self.wall[name] += 0.0

    def enter(self, name: str) -> None:
        now = time.perf_counter()
        stack = self._stack()
        with self._lock:
            self._advance(now)
            if stack:
                self._pause(stack[-1], now)
            stack.append([name, now])
            self._active[name] += 1

    def leave(self) -> None:
        now = time.perf_counter()
        stack = self._stack()
        with self._lock:
            self._advance(now)
            name, resumed = stack.pop()
            self.busy[name] += now - resumed
            self.calls[name] += 1
            self._deactivate(name)
            if stack:
                stack[-1][1] = now
                self._active[stack[-1][0]] += 1

    def absorb(self, stages: Mapping[str, tuple[float, int]], *, within: str, workers: int) -> None:
        """Spread stage `within`'s wall time (time spent waiting on `workers` processes) over the stages those
        processes report (`stages`: busy seconds and calls, summed over them), in proportion to their busy
        time; what the processes were not busy (their start-up, idle ends) stays with `within`."""
        total = sum(seconds for seconds, _ in stages.values())
        waited = self.wall[within]
        working = min(waited, total / max(1, workers))
        for name, (seconds, calls) in stages.items():
            self.wall[name] += working * seconds / total if total else 0.0
            self.busy[name] += seconds
            self.calls[name] += calls
        self.wall[within] = self.busy[within] = waited - working

    def stage_times(self) -> dict[str, tuple[float, int]]:
        """Busy seconds and calls per stage: what a worker process hands to its parent's `absorb`."""
        return {name: (self.busy[name], self.calls[name]) for name in self.busy}

    def device_start(self) -> Any:
        start = self._torch.cuda.Event(enable_timing=True)
        start.record()
        return start

    def device_end(self, name: str, start: Any) -> None:
        end = self._torch.cuda.Event(enable_timing=True)
        end.record()
        self._pending.append((name, start, end))
        if len(self._pending) > CUDA_BACKLOG:
            self._resolve_device()

    def summary(self) -> dict[str, Any]:
        """Every stage's wall and busy seconds, share of the command's wall time, calls (and device seconds);
        an "other" row holds the rest, a "start-up" row what ran before the command (when known)."""
        with self._lock:
            self._advance(time.perf_counter())
        self._resolve_device()
        wall = dict(self.wall)
        if self.start_up is not None:
            wall = {START_UP: self.start_up, **wall}
        total = (self.start_up or 0.0) + self._last - self.started
        wall[OTHER] = max(0.0, total - sum(wall.values()))
        names = sorted(wall, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n == OTHER))
        rows = [self._row(name, wall[name], total) for name in names]
        return {
            "wall_s": round(total, 3),
            "measured_from": "process start" if self.start_up is not None else "command start",
            "stages": rows,
            **self._device_memory(),
        }

    def _row(self, name: str, wall: float, total: float) -> dict[str, Any]:
        row = {
            "stage": name,
            "wall_s": round(wall, 4),
            "share_percent": round(100 * wall / total, 1) if total > 0 else 0.0,
            "busy_s": round(self.busy.get(name, wall if name in (START_UP, OTHER) else 0.0), 4),
            "calls": self.calls.get(name, 1 if name == START_UP else 0),
        }
        if self.device:
            row["device_s"] = round(self.device.get(name, 0.0), 4)
        return row

    def _stack(self) -> list[list[Any]]:
        stack = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    def _advance(self, now: float) -> None:
        """Share the time since the last event among the stages running in it (under the lock)."""
        elapsed, self._last = now - self._last, now
        running = sum(self._active.values())
        if running and elapsed > 0:
            for name, count in self._active.items():
                self.wall[name] += elapsed * count / running

    def _pause(self, frame: list[Any], now: float) -> None:
        self.busy[frame[0]] += now - frame[1]
        self._deactivate(frame[0])

    def _deactivate(self, name: str) -> None:
        self._active[name] -= 1
        if not self._active[name]:
            del self._active[name]

    def _resolve_device(self) -> None:
        if not self._pending:
            return
        self._torch.cuda.synchronize()
        for name, start, end in self._pending:
            self.device[name] += start.elapsed_time(end) / 1000.0
        self._pending.clear()

    def _device_memory(self) -> dict[str, int]:
        torch = self._torch or _cuda_torch()
        if torch is None or not torch.cuda.is_initialized():
            return {}
        return {"peak_device_memory_bytes": int(torch.cuda.max_memory_allocated())}


_END = object()


def _cuda_torch() -> Any:
    """torch when it is loaded and sees a CUDA device, else None (a CPU-only command never imports it here)."""
    torch = sys.modules.get("torch")
    return torch if torch is not None and torch.cuda.is_available() else None


@contextmanager
def muted() -> Iterator[None]:
    """No stage starts inside the block: a stage that runs others' code (training's validation runs the
    Predictor, which times its own stages) counts whole, as its own row."""
    global _current
    previous, _current = _current, NULL
    try:
        yield
    finally:
        _current = previous


@contextmanager
def profiling(*, start_up: float | None = None) -> Iterator[Profile]:
    """Turn the process-wide timer on for the block (`current()` is the new `Profile`, imports are timed),
    then back."""
    global _current
    previous, timer = _current, Profile(start_up=start_up)
    original = builtins.__import__
    timed = _timed_import(timer, original)
    _current, builtins.__import__ = timer, timed
    try:
        yield timer
    finally:
        _current = previous
        if builtins.__import__ is timed:
            builtins.__import__ = original


def _timed_import(timer: Profile, original: Callable[..., Any]) -> Callable[..., Any]:
    """`__import__` that times the outermost import of each thread as the stage "imports"."""
    importing = threading.local()

    def timed(*args: Any, **kwargs: Any) -> Any:
        if getattr(importing, "active", False):
            return original(*args, **kwargs)
        importing.active = True
        try:
            with timer.stage(IMPORTS):
                return original(*args, **kwargs)
        finally:
            importing.active = False

    return timed


def process_age() -> float | None:
    """Seconds since this process started (Linux: /proc), or None where the system does not say."""
    try:
        with open("/proc/self/stat", "rb") as stat, open("/proc/uptime", "rb") as uptime:
            started = int(stat.read().rsplit(b")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")
            return max(0.0, float(uptime.read().split()[0]) - started)
    except (OSError, ValueError, IndexError):
        return None
