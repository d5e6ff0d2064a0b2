"""A whole `clara-tlt train` process vs a whole hand-written MONAI training process (imports, data checks,
the first cache fill and every epoch's state writes included).

Both train the same small UNet on the same synthetic CT cases (clara_tlt.synthetic.dataset.write_dataset) for
`--epochs` epochs: ours the seed spleen config as benchmarks/train.py sets it (its `ours_config`, prefetch 0,
no validation), run as `clara-tlt train -m MMAR -c config/config_train.json -e config/environment.json --no-resume
--force`; the peer benchmarks/monai_train_loop.py (CacheDataset + ThreadDataLoader, the same step, a
`torch.save` each epoch). Same `OMP_NUM_THREADS`; the two alternate for `--rounds` rounds and the best of each
is compared, the spread printed as noise. benchmarks/train.py measures the steady state (throughput per epoch).
Target (issue 25): time ratio ours ÷ peer ≤ 1.0 for the whole 10-epoch process.

    .venv/bin/python benchmarks/train_process.py --size tiny    # 2 volumes 32³, 16³ crops, 2 epochs, 1 round
    .venv/bin/python benchmarks/train_process.py [--size issue] # 8 volumes 64×64×48, 32³ crops, 10 epochs, 2 rounds
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import torch

from clara_tlt.synthetic.dataset import write_dataset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Measurement, best_of, noise, ratio_table, run_process
from train import Setup, write_mmar

BIN = Path(sys.executable).parent
PEER_SCRIPT = Path(__file__).resolve().parent / "monai_train_loop.py"
SIZES = {  # volumes, shape, crop, epochs, rounds
    "tiny": (2, (32, 32, 32), 16, 2, 1),
    "issue": (8, (64, 64, 48), 32, 10, 2),
}


def commands(setup: Setup, folder: Path) -> dict[str, list[str]]:
    """Our MMAR and command line, and the peer's, both writing under `folder`."""
    mmar = write_mmar(setup, folder / "mmar", prefetch=0)
    ours = [str(BIN / "clara-tlt"), "train", "-m", str(mmar), "-c", "config/config_train.json"]
    ours += ["-e", "config/environment.json", "--no-resume", "--force"]
    peer = [
        sys.executable,
        str(PEER_SCRIPT),
        "--datalist",
        str(setup.datalist),
        "--output",
        str(folder / "peer"),
    ]
    peer += ["--crop", str(setup.crop), "--batch", str(setup.batch), "--epochs", str(setup.epochs)]
    peer += ["--channels", *(str(c) for c in setup.channels)]
    return {"ours": ours, "peer": peer}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="issue")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--batch", type=int, default=3, help="crops per volume = batch size")
    parser.add_argument("--channels", type=int, nargs="+", default=(8, 16, 32), help="UNet channels")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    volumes, shape, crop, epochs, rounds = SIZES[args.size]
    epochs, rounds = args.epochs or epochs, args.rounds or rounds
    load = Path("/proc/loadavg").read_text().split()[0]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        datalist = write_dataset(folder / "data", num_training=volumes, num_validation=0, shape=shape)
        setup = Setup(datalist, crop, args.batch, tuple(args.channels), epochs, False, torch.device("cpu"))
        runs = {who: lambda c=c: run_process(c, args.threads) for who, c in commands(setup, folder).items()}
        times = best_of(runs, rounds)
    case = f"{epochs} epochs, {volumes} volumes {'×'.join(map(str, shape))}, {args.batch}×{crop}³ crops"
    row = Measurement(case, min(times["ours"]), min(times["peer"]))
    print(ratio_table(f"whole training process, {args.threads} threads (target ≤ 1.0)", "MONAI loop", [row]))
    print(f"best of {rounds}; noise: ours {noise(times['ours'])}, peer {noise(times['peer'])}; load {load}")


if __name__ == "__main__":
    main()
