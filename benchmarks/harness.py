"""The benchmark convention: run ours and the named peer side by side in one run, print labelled ratios.

Every script in benchmarks/ builds its inputs itself and times each contender in the same run: in one process
with `median_seconds` (warm-up run first, then the median of repeats), or as whole processes with `best_of`
(the contenders alternate, so a shared machine's load falls on both alike; the best of the rounds is compared
and the spread of the rounds printed as the noise). `ratio_table` prints each row's ratio with its meaning:
a time ratio is ours ÷ peer in seconds (below 1 is faster), a throughput ratio is ours ÷ peer in items per
second (above 1 is faster). Targets live in the scripts' docstrings, never in unit tests.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# The seeds' configs (../shared beside the repo, as CI and developers have it): the benchmarks run them as written.
SEED_CONFIGS = Path(__file__).resolve().parents[1].parent / "shared" / "seeds" / "configs"


@dataclass(frozen=True)
class Measurement:
    """One comparison row: what was measured and the seconds of ours and of the peer (per item for a
    throughput row, whose ratio is then the peer's seconds ÷ ours: ours ÷ peer in items per second)."""

    case: str
    ours_s: float
    peer_s: float
    throughput: bool = False

    @property
    def ratio(self) -> float:
        return self.peer_s / self.ours_s if self.throughput else self.ours_s / self.peer_s


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


def best_of(
    contenders: Mapping[str, Callable[[], object]], rounds: int, *, warmup: bool = False
) -> dict[str, list[float]]:
    """Wall seconds of each contender in each of `rounds` rounds, the contenders alternating within a round.

    `warmup`: one untimed call of each first (in-process contenders); whole processes need none, as each pays
    its start-up every time, as a user's does.
    """
    for run in contenders.values() if warmup else ():
        run()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, run in contenders.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return times


def run_process(command: Sequence[str], threads: int, *, python_path: str | None = None) -> str:
    """Run `command` as a whole process with `threads` OpenMP/MKL threads (and `python_path` in front of
    PYTHONPATH, to time another checkout's code); returns its stdout, SystemExit with its log if it fails."""
    env = os.environ | {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    if python_path:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [python_path, os.environ.get("PYTHONPATH")]))
    done = subprocess.run(list(command), env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return done.stdout


def noise(times: Sequence[float]) -> str:
    """The spread of repeated timings, as the benchmark's noise: `best–worst s (+x %)`."""
    best, worst = min(times), max(times)
    return f"{best:.2f}–{worst:.2f} s (+{100 * (worst - best) / best:.0f} %)"


def ratio_table(title: str, peer: str, rows: list[Measurement]) -> str:
    """A plain-text table of seconds and ratios, each ratio labelled with what it means."""
    lines = [title, f"{'case':<52} {'ours (s)':>10} {peer + ' (s)':>18}  ratio"]
    for r in rows:
        meaning = (
            "throughput ratio ours÷peer (>1: ours faster)"
            if r.throughput
            else "time ratio ours÷peer (<1: ours faster)"
        )
        lines.append(f"{r.case:<52} {r.ours_s:>10.4f} {r.peer_s:>18.4f}  {r.ratio:.2f} {meaning}")
    return "\n".join(lines)
