"""The benchmark convention: run ours and the named peer side by side in one process, print ours/peer ratios.

Every script in benchmarks/ builds its inputs itself, times each contender with `median_seconds` (warm-up run
first, then the median of repeats), and prints `ratio_table`: a ratio below 1.0 means ours is faster.
Targets live in the scripts' docstrings, never in unit tests.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# The seeds' configs (../shared beside the repo, as CI and developers have it): the benchmarks run them as written.
SEED_CONFIGS = Path(__file__).resolve().parents[1].parent / "shared" / "seeds" / "configs"


@dataclass(frozen=True)
class Measurement:
    """One comparison row: what was measured and the median seconds of ours and of the peer."""

    case: str
    ours_s: float
    peer_s: float

    @property
    def ratio(self) -> float:
        return self.ours_s / self.peer_s


def median_seconds(run: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """The median wall time of `run()` over `repeats` runs, after `warmup` untimed runs."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def ratio_table(title: str, peer: str, rows: list[Measurement]) -> str:
    """A plain-text table of medians and ours/peer ratios."""
    lines = [title, f"{'case':<40} {'ours (s)':>10} {peer + ' (s)':>18} {'ours/peer':>10}"]
    lines += [f"{r.case:<40} {r.ours_s:>10.4f} {r.peer_s:>18.4f} {r.ratio:>10.2f}" for r in rows]
    return "\n".join(lines)
