"""`tlt-infer` over one datalist three ways: one process, `torchrun` with 2 processes, and 2 `--shard` processes.

Input: `--cases` synthetic CT volumes and a random-weight UNet (benchmarks/infer.py's `make_inputs`), the seed's
validation config with one uint8 writer. Each way runs the console script as the user would (so Python and torch
start-up count), the processes of one way side by side, each with `OMP_NUM_THREADS` = cores / processes so that
no way gets more cores than another. Printed: seconds, cases per second and the speed-up over one process, and
the cores this machine has: on a machine whose cores are already busy, 2 processes cannot be faster than 1.
Target: ≥ 1.6× for both 2-process ways on 4 free cores or more; the shards and torchrun within 10% of each other.

    .venv/bin/python benchmarks/scale_out.py [--cases 8] [--shape 96 96 64] [--roi 48]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from infer import make_inputs, write_config

BIN = Path(sys.executable).parent


def infer_args(root: Path, datalist: Path, config: Path, output: str) -> list[str]:
    return [
        "--model_save_path",
        str(root / "models" / "model.pt"),
        "--config",
        str(config),
        "--data_file",
        str(datalist),
        "--file_root",
        str(root),
        "--output_path",
        str(root / output),
    ]


def timed(commands: list[list[str]], threads: int) -> float:
    """Wall seconds until every command, started together, has ended (each must exit 0)."""
    env = os.environ | {"OMP_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    processes = [
        subprocess.Popen(c, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for c in commands
    ]
    logs = [p.communicate()[1] for p in processes]
    seconds = time.perf_counter() - start
    failed = [(p.returncode, log[-2000:]) for p, log in zip(processes, logs, strict=True) if p.returncode]
    if failed:
        raise SystemExit(f"a run failed: {failed}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=8)
    parser.add_argument("--shape", type=int, nargs=3, default=(96, 96, 64))
    parser.add_argument("--roi", type=int, default=48)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    root = Path(tempfile.mkdtemp(prefix="scale_out_bench_"))
    try:
        (root / "images").mkdir()
        datalist = make_inputs(root, args.cases, tuple(args.shape))
        config = write_config(root, args.roi)
        infer = str(BIN / "tlt-infer")
        ways = {
            "1 process": ([[infer, *infer_args(root, datalist, config, "one")]], cores),
            "torchrun, 2 processes": (
                [
                    [
                        str(BIN / "torchrun"),
                        "--nproc_per_node",
                        "2",
                        "--master_port",
                        "29531",
                        infer,
                        *infer_args(root, datalist, config, "torchrun"),
                    ]
                ],
                max(1, cores // 2),
            ),
            "2 shards (--shard 0/2, 1/2)": (
                [[infer, *infer_args(root, datalist, config, "shards"), "--shard", f"{i}/2"] for i in (0, 1)],
                max(1, cores // 2),
            ),
        }
        seconds = {name: timed(commands, threads) for name, (commands, threads) in ways.items()}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    base = seconds["1 process"]
    print(f"tlt-infer, {args.cases} cases {'×'.join(map(str, args.shape))}, roi {args.roi}³, {cores} cores")
    print(f"{'way':<30} {'seconds':>8} {'cases/s':>8} {'speed-up':>9}")
    for name, value in seconds.items():
        print(f"{name:<30} {value:>8.2f} {args.cases / value:>8.2f} {base / value:>8.2f}×")


if __name__ == "__main__":
    main()
