"""Iterations/s of `clara-tlt train` vs a hand-written MONAI loop doing the same work, and the share of each
one's epoch wall time spent computing (forward + loss + backward + optimizer step).

Both train the same small MONAI UNet (MONAI `DiceLoss` with softmax, Adam, a step lr policy stepped per
iteration) on the same synthetic CT cases (clara_tlt.synthetic.dataset.write_dataset) through the seed spleen
training pipeline: load, channels first, intensity window −57..164 → 0..1, `batch_size` pos/neg crops of one
volume per batch, flip and rotate (probability 0, as in the seed), intensity oscillation ±0.1.

- ours: `clara_tlt.engines.training.train` on the seed config with the network, loss and sizes swapped in
  (the seed's `determinism`, `SegmentationImagePipelineWithCache`; no validation section), writing what it
  always writes (model.pt and train_state.pt each epoch, TensorBoard scalars each iteration);
- peer: benchmarks/monai_train_loop.py's `loader` (`CacheDataset`, head and `FgBgToIndicesd` cached, +
  `ThreadDataLoader`), the same step, a `torch.save` of model and optimizer each epoch, the same determinism.

The two alternate, one peer epoch before each of ours, so both see the same load of a shared machine. The first
epoch of each fills its cache and is not timed; the median of the other epochs is reported.
Compute time is measured around `Trainer.step` (ours) and the same lines of the peer; both end by reading the
loss value, which waits for the device. Ours runs with the seed's `prefetch_size` 0 and again with 1 (the
ThreadDataLoader prepares one batch ahead in a thread, as `prefetch_size` 1 does).

Printed: the throughput ratio ours ÷ peer (iterations per second; above 1 is faster). Target (issue 25):
≥ 1.5×; benchmarks/train_process.py times the whole 10-epoch process. On a machine other processes share, run
with `OMP_NUM_THREADS=1`: two OpenMP threads on two busy cores made the same step take 0.3 to 5 s, in both contenders, and the epoch pairs
printed show whether the run was quiet enough to compare.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/train.py [--volumes 8] [--shape 64 64 48] [--crop 32] [--epochs 5]
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/train.py --volumes 2 --shape 32 32 32 --crop 16 --epochs 2  # tiny
    python benchmarks/train.py --device cuda --amp --shape 192 192 96 --crop 96 --channels 16 32 64 128
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from monai.losses import DiceLoss
from monai.networks.nets import UNet
from monai.utils import set_determinism

from clara_tlt.config.loader import load_config
from clara_tlt.engines.trainer import Trainer
from clara_tlt.engines.training import train
from clara_tlt.synthetic.dataset import write_dataset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import SEED_CONFIGS, Measurement, ratio_table
from monai_train_loop import DECAY_FREQ, DECAY_RATIO, LR, loader

SEED_CONFIG = SEED_CONFIGS / "config_train_spleen.json"


@dataclass
class Run:
    """Per-epoch wall seconds and the seconds of those epochs spent computing; the first epoch is the warm-up.
    `peer_s` (ours only): the peer's epoch run just before each of ours."""

    iterations_per_epoch: int = 0
    epoch_s: list[float] = field(default_factory=list)
    compute_s: list[float] = field(default_factory=list)
    peer_s: list[float] = field(default_factory=list)

    @property
    def median_epoch_s(self) -> float:
        return statistics.median(self.epoch_s[1:])

    @property
    def iterations_per_s(self) -> float:
        return self.iterations_per_epoch / self.median_epoch_s

    @property
    def compute_fraction(self) -> float:
        return sum(self.compute_s[1:]) / sum(self.epoch_s[1:])

    @property
    def median_pair_ratio(self) -> float:
        """The median over timed epochs of (this epoch / the peer's epoch beside it)."""
        return statistics.median(o / p for o, p in zip(self.epoch_s[1:], self.peer_s[1:], strict=True))


@dataclass(frozen=True)
class Setup:
    """What both contenders share."""

    datalist: Path
    crop: int
    batch: int
    channels: tuple[int, ...]
    epochs: int
    amp: bool
    device: torch.device

    def network(self) -> UNet:
        return UNet(
            spatial_dims=3,
            in_channels=1,
            out_channels=2,
            channels=self.channels,
            strides=[2] * (len(self.channels) - 1),
            num_res_units=1,
        )


# -- the peer -------------------------------------------------------------------------------------------------
class Peer:
    """The hand-written MONAI loop; `epoch()` trains one epoch and records its times."""

    def __init__(self, setup: Setup, folder: Path) -> None:
        set_determinism(
            seed=123456
        )  # the seed's random_seed; deterministic algorithms, as `determinism` sets
        torch.use_deterministic_algorithms(True, warn_only=True)
        self.setup, self.file = setup, folder / "peer.pt"
        self.network = setup.network().to(setup.device)
        self.loss = DiceLoss(to_onehot_y=True, softmax=True)
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=LR)
        self.scheduler = torch.optim.lr_scheduler.StepLR(
            self.optimizer, step_size=DECAY_FREQ, gamma=DECAY_RATIO
        )
        self.scaler = torch.amp.GradScaler(setup.device.type, enabled=setup.amp)
        self.loader = loader(setup.datalist, setup.crop, setup.batch)
        self.run = Run()

    def epoch(self) -> float:
        """Train one epoch; returns its wall seconds."""
        device, amp = self.setup.device, self.setup.amp
        start, compute, iterations = time.perf_counter(), 0.0, 0
        self.network.train()
        for batch in self.loader:
            step_start = time.perf_counter()
            image = batch["image"].as_tensor().to(device, non_blocking=True)
            label = batch["label"].as_tensor().to(device, non_blocking=True)
            self.optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device.type, enabled=amp):
                loss = self.loss(self.network(image), label)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            loss.item()
            compute += time.perf_counter() - step_start
            self.scheduler.step()
            iterations += 1
        state = {"model": self.network.state_dict(), "optimizer": self.optimizer.state_dict()}
        torch.save(state, self.file)
        self.run.epoch_s.append(time.perf_counter() - start)
        self.run.compute_s.append(compute)
        self.run.iterations_per_epoch = iterations
        return self.run.epoch_s[-1]


# -- ours -----------------------------------------------------------------------------------------------------
def ours_config(setup: Setup, prefetch: int) -> dict[str, Any]:
    """The seed spleen config with the shared network, loss, sizes and epochs; no validation."""
    config = json.loads(SEED_CONFIG.read_text())
    config.update({"epochs": setup.epochs, "use_amp": setup.amp})
    config.pop("validate")
    section = config["train"]
    section["model"] = {
        "name": "UNet",
        "args": {
            "spatial_dims": 3,
            "in_channels": 1,
            "out_channels": 2,
            "channels": list(setup.channels),
            "strides": [2] * (len(setup.channels) - 1),
            "num_res_units": 1,
        },
    }
    section["loss"] = {"name": "DiceLoss", "args": {"to_onehot_y": True, "softmax": True}}
    crop = [setup.crop] * 3
    section["pre_transforms"][3]["args"].update({"size": crop, "batch_size": setup.batch})
    section["image_pipeline"]["args"].update(
        {"output_crop_size": crop, "output_batch_size": setup.batch, "prefetch_size": prefetch}
    )
    return config


@contextmanager
def timed_trainer(run: Run, peer_epoch: Callable[[], float]) -> Iterator[None]:
    """Time every `Trainer.step` and every epoch (from `epoch_started` to the end of `epoch_completed`);
    `peer_epoch()` runs before each epoch and returns its seconds (both see the same machine load)."""
    step, fire = Trainer.step, Trainer.fire
    state = {"epoch_start": 0.0, "compute": 0.0, "iterations": 0}

    def timed_step(self: Trainer, batch: Any) -> float:
        start = time.perf_counter()
        loss = step(self, batch)
        state["compute"] += time.perf_counter() - start
        state["iterations"] += 1
        return loss

    def timed_fire(self: Trainer, event: str) -> None:
        if event == "epoch_started":
            run.peer_s.append(peer_epoch())
            state.update(epoch_start=time.perf_counter(), compute=0.0, iterations=0)
        fire(self, event)
        if event == "epoch_completed":
            run.epoch_s.append(time.perf_counter() - state["epoch_start"])
            run.compute_s.append(state["compute"])
            run.iterations_per_epoch = int(state["iterations"])

    Trainer.step, Trainer.fire = timed_step, timed_fire
    try:
        yield
    finally:
        Trainer.step, Trainer.fire = step, fire


def write_mmar(setup: Setup, mmar: Path, prefetch: int) -> Path:
    """`mmar/config/` holding `ours_config` and an environment.json pointing at the setup's datalist."""
    (mmar / "config").mkdir(parents=True)
    (mmar / "config" / "config_train.json").write_text(json.dumps(ours_config(setup, prefetch)))
    environment = {
        "DATASET_JSON": str(setup.datalist),
        "DATA_ROOT": str(setup.datalist.parent),
        "PRETRAIN_WEIGHTS_FILE": "",
        "MMAR_CKPT_DIR": "models",
    }
    (mmar / "config" / "environment.json").write_text(json.dumps(environment))
    return mmar


def run_ours(setup: Setup, folder: Path, prefetch: int, peer: Peer) -> Run:
    """Train with `train(config)`, one peer epoch before each of ours."""
    mmar = write_mmar(setup, folder / f"mmar_prefetch{prefetch}", prefetch)
    config = load_config(
        "config/config_train.json", environment_path="config/environment.json", mmar_root=mmar
    )
    run = Run()
    with timed_trainer(run, peer.epoch):
        train(config)
    return run


# -- the comparison -------------------------------------------------------------------------------------------
def device_of(name: str | None) -> torch.device:
    """The device both run on; the engine uses CUDA whenever present, so the peer must too."""
    cuda = torch.cuda.is_available()
    if name == "cuda" and not cuda:
        raise SystemExit("--device cuda: no CUDA device here")
    if name == "cpu" and cuda:
        raise SystemExit("the engine trains on CUDA when present; run with CUDA_VISIBLE_DEVICES= for CPU")
    return torch.device("cuda" if cuda else "cpu")


def report(peer: Run, ours: dict[int, Run], describe: str) -> str:
    rows = [
        Measurement(
            f"prefetch_size {p}: median s/epoch",
            run.median_epoch_s,
            statistics.median(run.peer_s[1:]),
            throughput=True,
        )
        for p, run in ours.items()
    ]
    lines = [ratio_table(f"training epoch ({describe})", "MONAI loop", rows)]
    lines.append(
        f"MONAI loop: {peer.iterations_per_s:.3f} it/s, compute {peer.compute_fraction:.1%} of epoch wall time"
    )
    for prefetch, run in ours.items():
        lines.append(
            f"ours prefetch_size {prefetch}: {run.iterations_per_s:.3f} it/s, "
            f"compute {run.compute_fraction:.1%} of epoch wall time, "
            f"throughput ours/MONAI {1 / run.median_pair_ratio:.2f}x (median of epoch pairs; target ≥ 1.5×)"
        )
        pairs = ", ".join(f"{o:.2f}/{p:.2f}" for o, p in zip(run.epoch_s[1:], run.peer_s[1:], strict=True))
        lines.append(f"  epoch pairs, ours/MONAI s: {pairs}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--volumes", type=int, default=8, help="training volumes (one batch each per epoch)")
    parser.add_argument("--shape", type=int, nargs=3, default=(64, 64, 48), help="volume shape")
    parser.add_argument("--crop", type=int, default=32, help="crop edge (voxels)")
    parser.add_argument("--batch", type=int, default=3, help="crops per volume = batch size")
    parser.add_argument("--channels", type=int, nargs="+", default=(8, 16, 32), help="UNet channels")
    parser.add_argument("--epochs", type=int, default=5, help="epochs, the first untimed")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None)
    parser.add_argument("--amp", action="store_true", help="mixed precision (CUDA only)")
    parser.add_argument("--prefetch", type=int, nargs="+", default=(0, 1), help="our prefetch_size values")
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first is the warm-up)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        datalist = write_dataset(
            folder / "data", num_training=args.volumes, num_validation=0, shape=tuple(args.shape)
        )
        setup = Setup(
            datalist=datalist,
            crop=args.crop,
            batch=args.batch,
            channels=tuple(args.channels),
            epochs=args.epochs,
            amp=args.amp,
            device=device_of(args.device),
        )
        peer = Peer(setup, folder)
        ours = {prefetch: run_ours(setup, folder, prefetch, peer) for prefetch in args.prefetch}
    describe = (
        f"{args.volumes} volumes {tuple(args.shape)}, {args.batch}×{args.crop}³ crops, "
        f"UNet {tuple(args.channels)}, {setup.device}{' amp' if args.amp else ''}, "
        f"median of {args.epochs - 1} epochs"
    )
    print(report(peer.run, ours, describe))


if __name__ == "__main__":
    main()
