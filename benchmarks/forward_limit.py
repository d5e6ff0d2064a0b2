"""How far issue 25's missed targets can go on this machine: each benchmark's network against its limits.

For the network and input of each benchmark (built with that benchmark's own code):

- infer.py's UNet on its window batch (3 windows of 96³), scanning_window.py's convolution on its window batch
  (2 windows of 96³), export.py's unet and segahnet (batch 1), train.py's UNet training step (forward, Dice
  loss, backward, Adam; 3 crops of 32³),

it counts the FLOPs of one forward (FlopCounterMode; the whole step for training) and the bytes each op reads
and writes, times the forward in torch eager (`inference_mode`) and in onnxruntime (ENABLE_ALL, intra-op
threads = torch's, sequential and parallel execution, with and without spin-waiting; and onnxruntime's default
options, which formats/onnx.py uses), and prints GFLOP/s against the machine's ceilings, measured here the
same way: a large fp32 matmul (the compute ceiling) and a large copy (the memory bandwidth). A convolution
whose FLOPs per byte lie below the ridge (ceiling ÷ bandwidth) is memory-bound: more FLOP/s cannot help it.

Then, per target, the lower bound on its ratio that follows, from the fastest runtime measured and from the
machine's ceilings (benchmarks/roofline.py): e.g. end-to-end infer ≥ (our start-up and imports + forward
passes × the fastest forward) ÷ the MONAI loop's wall time, both measured here as whole processes. A target
whose bound lies beyond it cannot be reached here without changing results (window batch, overlap, precision).

    .venv/bin/python benchmarks/forward_limit.py --size tiny      # about a minute: checks that it works
    .venv/bin/python benchmarks/forward_limit.py [--size issue] [--rounds 3] [--parts infer window train]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from monai.losses import DiceLoss

from clara_tlt.export.shapes import export_shape
from clara_tlt.factory.registry import build
from clara_tlt.inferers.placement import plan_windows
from clara_tlt.synthetic.dataset import write_dataset

sys.path.insert(0, str(Path(__file__).resolve().parent))
import infer as infer_bench
import scanning_window as window_bench
import train as train_bench
from harness import best_of, noise, run_process
from monai_train_loop import LR
from roofline import OPT_IN, Bound, Ceilings, Traffic, ceilings, print_bounds, runtimes, traffic

import export as export_bench  # benchmarks/export.py (ruff takes it for a first-party package)


@dataclass(frozen=True)
class Preset:
    """The sizes of each part: infer.py's and scanning_window.py's presets, export.py's cases."""

    infer: tuple[int, tuple[int, int, int], int, int]  # cases, shape, roi edge, rounds
    window: tuple[tuple[int, int, int], int, int]  # shape, roi edge, rounds
    export: tuple[str, ...]


SIZES = {
    size: Preset(infer_bench.SIZES[size], window_bench.SIZES[size], cases)
    for size, cases in (("tiny", ("unet",)), ("issue", ("unet", "segahnet")))
}
# train.py's defaults (tiny: its docstring's tiny run): volumes, shape, crop, batch, channels, epochs
TRAIN = {"tiny": (2, (32, 32, 32), 16, 3, (8, 16, 32), 2), "issue": (8, (64, 64, 48), 32, 3, (8, 16, 32), 5)}
PARTS = ("infer", "window", "export", "train")


def network_report(
    title: str, network: torch.nn.Module, example: torch.Tensor, limits: Ceilings, rounds: int
) -> tuple[dict[str, float], Traffic]:
    """Print the forward's FLOPs, bytes and intensity and each runtime's time and GFLOP/s; returns the best
    seconds per runtime and the traffic."""
    with torch.no_grad():
        counted = traffic(lambda: network(example))
    times, differences = runtimes(network, example, rounds)
    print_traffic(title, counted, limits)
    print(
        f"  {'runtime':<68} {'best s':>8}  {'noise':<24} {'GFLOP/s':>8} {'of ceiling':>10}  max|Δ| vs eager"
    )
    for name, seconds in times.items():
        best = min(seconds)
        rate = counted.flops / best / 1e9
        print(
            f"  {name:<68} {best:>8.4f}  {noise(seconds):<24} {rate:>8.1f} {rate / limits.gflops:>10.1%}"
            f"  {differences[name]:.2g}"
        )
    return {name: min(seconds) for name, seconds in times.items() if OPT_IN not in name}, counted


def print_traffic(title: str, counted: Traffic, limits: Ceilings) -> None:
    total, low, high = counted.intensity()
    print(
        f"\n{title}: {counted.flops / 1e9:.3f} GFLOP, {counted.bytes / 1e9:.3f} GB read+written op by op, "
        f"{len(counted.ops)} aten ops"
    )
    print(
        f"  convolutions: {total:.1f} FLOP/byte together (ops from {low:.1f} to {high:.1f}); "
        f"the machine's ridge {limits.balance:.1f} FLOP/byte: "
        f"{'memory' if total < limits.balance else 'compute'}-bound"
    )
    print(
        f"  floors: every FLOP at the ceiling {counted.compute_floor_s(limits):.4f} s; "
        f"roofline op by op {counted.floor_s(limits):.4f} s"
    )


def startup_s(code: str, threads: int, rounds: int = 3) -> float:
    """Best wall seconds of a fresh `python -c code` (the interpreter and its imports)."""
    times = best_of({"p": lambda: run_process([sys.executable, "-c", code], threads)}, rounds)
    return min(times["p"])


def infer_part(args: argparse.Namespace, limits: Ceilings) -> list[Bound]:
    """infer.py: its UNet on its window batch, then both whole processes (ours with --profile)."""
    cases, shape, roi, _ = SIZES[args.size].infer
    batch = infer_bench.WINDOWS_PER_FORWARD
    torch.manual_seed(0)
    network = build(infer_bench.UNET, "network", file="benchmark", key_path="model").eval()
    example = torch.rand(batch, 1, roi, roi, roi)
    best, counted = network_report(
        f"infer.py UNet, {batch} windows of {roi}³", network, example, limits, args.rounds
    )
    windows = len(plan_windows(shape, roi, infer_bench.OVERLAP, cut=False).windows)
    forwards = cases * math.ceil(windows / batch)
    root = Path(tempfile.mkdtemp(prefix="forward_limit_"))
    try:
        (root / "images").mkdir()
        lines = infer_bench.commands(root, infer_bench.make_inputs(root, cases, shape), roi, batch)
        output: list[str] = []
        runs = {
            "peer": lambda: run_process(lines["peer"], args.threads),
            "ours": lambda: output.append(run_process([*lines["ours"], "--profile", "--json"], args.threads)),
        }
        times = best_of(runs, args.process_rounds)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    stages = {row["stage"]: row["wall_s"] for row in json.loads(output[-1])["profile"]["stages"]}
    fixed = stages.get("start-up", 0.0) + stages["imports"]
    torch_only = startup_s("import torch", args.threads)
    ours, peer = min(times["ours"]), min(times["peer"])
    fastest = min(best.values())
    print(
        f"  {cases} cases {'×'.join(map(str, shape))}: {forwards} forward passes; ours {ours:.2f} s "
        f"({noise(times['ours'])}), MONAI loop {peer:.2f} s ({noise(times['peer'])}); our profile: "
        f"start-up + imports {fixed:.2f} s, network forward {stages['network forward']:.2f} s; "
        f"a process importing only torch {torch_only:.2f} s"
    )
    lever = ours - stages["network forward"] + forwards * fastest
    print(f"  start-up + imports alone: {fixed / peer:.2f}× the MONAI loop's wall time")
    print(f"  ours with every forward at the fastest runtime, the rest as profiled: {lever:.2f} s", end="")
    print(f" ({lever / peer:.2f}× the MONAI loop)")
    return [
        Bound(
            "e2e infer, time ours÷MONAI loop",
            ours / peer,
            (fixed + forwards * fastest) / peer,
            (torch_only + forwards * counted.compute_floor_s(limits)) / peer,
            0.25,
            "start-up + imports + forwards; ceiling: `import torch` alone + every FLOP at the matmul ceiling",
        )
    ]


def window_part(args: argparse.Namespace, limits: Ceilings) -> list[Bound]:
    """scanning_window.py: its convolution on its window batch, both inferers' time and label-mode memory."""
    shape, roi, _ = SIZES[args.size].window
    classes, batch = 8, window_bench.BATCH
    volume, network = window_bench.make_inputs(shape, classes, "conv")
    example = torch.rand(batch, 1, roi, roi, roi)
    best, counted = network_report(
        f"scanning_window.py conv 1→{classes}, {batch} windows of {roi}³",
        network,
        example,
        limits,
        args.rounds,
    )
    forwards = math.ceil(len(plan_windows(shape, roi, window_bench.OVERLAP, cut=False).windows) / batch)
    eager = best.pop("torch eager, inference_mode")
    print(
        f"  the same windows with the conv exported to ONNX: {forwards * min(best.values()):.3f} s of forwards"
    )
    runs = {
        who: window_bench.contender(f"{who}-plain", volume, network, (roi,) * 3) for who in ("ours", "monai")
    }
    times = best_of(runs, args.rounds, warmup=True)
    ours, peer = min(times["ours"]), min(times["monai"])
    blend_once = classes * math.prod(shape) * 4 / (limits.gbytes * 1e9)  # the blended scores written once
    print(
        f"  {forwards} forward passes over {'×'.join(map(str, shape))}; ours {ours:.3f} s "
        f"({noise(times['ours'])}), MONAI {peer:.3f} s ({noise(times['monai'])}); "
        f"the output written once at the bandwidth {blend_once:.3f} s"
    )
    memory = argparse.Namespace(classes=classes, shape=shape, network="conv", roi=(roi,) * 3)
    peaks = {who: window_bench.memory_in_subprocess(f"{who}-labels", memory) for who in ("ours", "monai")}
    forward_mib = forward_memory_in_subprocess(shape, roi, classes)
    labels_mib = math.prod(shape) / 2**20
    print(
        f"  label mode, MiB the call adds: ours {peaks['ours']:.0f}, MONAI {peaks['monai']:.0f}; "
        f"one forward of the window batch alone {forward_mib:.0f}; the uint8 labels {labels_mib:.0f}"
    )
    return [
        Bound(
            "scanning window plain, time ours÷MONAI",
            ours / peer,
            (forwards * eager + blend_once) / peer,
            (forwards * counted.floor_s(limits) + blend_once) / peer,
            0.7,
            "forwards in eager (both inferers get the same torch network) + the scores written once; "
            "ceiling: the conv's roofline floor",
        ),
        Bound(
            "scanning window labels, peak memory ours÷MONAI",
            peaks["ours"] / peaks["monai"],
            (forward_mib + labels_mib) / peaks["monai"],
            (forward_mib + labels_mib) / peaks["monai"],
            0.35,
            "one forward's working memory + the uint8 labels",
        ),
    ]


def forward_memory_in_subprocess(shape: tuple[int, ...], roi: int, classes: int) -> float:
    """MiB one forward of the window batch adds at its peak, in a fresh process (`--forward-memory`)."""
    command = [sys.executable, __file__, "--forward-memory", str(roi), str(classes), *map(str, shape)]
    command += ["--threads", str(torch.get_num_threads())]
    return float(
        json.loads(run_process(command, torch.get_num_threads()).strip().splitlines()[-1])["peak_mib"]
    )


def forward_memory(roi: int, classes: int, shape: tuple[int, ...]) -> float:
    """In this (fresh) process: MiB one forward adds over the resident size before it (as scanning_window)."""
    _, network = window_bench.make_inputs(shape, classes, "conv")
    example = torch.rand(window_bench.BATCH, 1, roi, roi, roi)
    with torch.inference_mode():
        network(example)
        before = window_bench.status_mib("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")
        result = network(example)
        peak = window_bench.status_mib("VmHWM")
    del result
    return peak - before


def export_part(args: argparse.Namespace, limits: Ceilings) -> list[Bound]:
    """export.py: each case's network at its export input (batch 1), eager against onnxruntime."""
    bounds = []
    for name in SIZES[args.size].export:
        spec, roi = export_bench.CASES[name]
        torch.manual_seed(0)
        network = build(spec, "network", file="benchmark", key_path="model").eval()
        conf = {"validate": {"inferer": {"args": {"roi_size": roi}}}}
        shape = export_shape(network, conf, dynamic=False, max_batch_size=1)
        example = torch.rand(1, shape.channels, *shape.spatial)
        best, counted = network_report(f"export.py {name}", network, example, limits, args.rounds)
        eager = best.pop("torch eager, inference_mode")
        floor = max(counted.floor_s(limits), counted.compute_floor_s(limits))
        bounds.append(
            Bound(
                f"ONNX {name}, time onnxruntime÷eager",
                min(best.values()) / eager,
                min(best.values()) / eager,
                floor / eager,
                0.3,
                "eager's own time is the divisor; ceiling: the roofline floor op by op",
            )
        )
    return bounds


def train_part(args: argparse.Namespace, limits: Ceilings) -> list[Bound]:
    """train.py: the MONAI loop's epochs (train.py's Peer) and its UNet's training step alone."""
    volumes, shape, crop, batch, channels, epochs = TRAIN[args.size]
    with tempfile.TemporaryDirectory() as folder:
        datalist = write_dataset(Path(folder) / "data", num_training=volumes, num_validation=0, shape=shape)
        setup = train_bench.Setup(
            datalist=datalist,
            crop=crop,
            batch=batch,
            channels=channels,
            epochs=epochs,
            amp=False,
            device=torch.device("cpu"),
        )
        # the seed's determinism, as both contenders train with it
        peer = train_bench.Peer(setup, Path(folder))
        for _ in range(epochs):
            peer.epoch()
    network, loss = setup.network(), DiceLoss(to_onehot_y=True, softmax=True)
    optimizer = torch.optim.Adam(network.parameters(), lr=LR)
    image = torch.rand(batch, 1, crop, crop, crop)
    label = torch.randint(0, 2, image.shape).float()

    def step() -> float:
        optimizer.zero_grad(set_to_none=True)
        value = loss(network(image), label)
        value.backward()
        optimizer.step()
        return value.item()

    counted = traffic(step)
    times = best_of({"step": step}, 3 * args.rounds, warmup=True)["step"]
    print_traffic(f"train.py UNet {channels} training step, {batch} crops of {crop}³", counted, limits)
    rate = counted.flops / min(times) / 1e9
    print(
        f"  step alone: best {min(times):.4f} s ({noise(times)}), {rate:.2f} GFLOP/s, "
        f"{rate / limits.gflops:.1%} of ceiling"
    )
    run, floor = peer.run, max(counted.floor_s(limits), counted.compute_floor_s(limits))
    print(
        f"  MONAI loop: {run.iterations_per_epoch} iterations per epoch, "
        f"median epoch {run.median_epoch_s:.3f} s, computing {run.compute_fraction:.1%} of it"
    )
    steps = run.iterations_per_epoch
    print(
        f"  the step in the loop took {run.compute_fraction * run.median_epoch_s / steps:.4f} s; "
        f"at the step's time alone the bound would be {run.median_epoch_s / (steps * min(times)):.2f}×"
    )
    return [
        Bound(
            "training steady state, throughput ours÷MONAI",
            None,
            1 / run.compute_fraction,
            run.median_epoch_s / (steps * floor),
            1.5,
            "train.py measures now; an epoch takes at least its steps (same network, kernels and loop as the "
            "peer's); ceiling: the step's roofline floor",
            higher=True,
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="issue")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each in-process timing")
    parser.add_argument("--process-rounds", type=int, default=1, help="rounds of infer.py's whole processes")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--forward-memory", type=int, nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.forward_memory:
        roi, classes, *shape = args.forward_memory
        print(json.dumps({"peak_mib": forward_memory(roi, classes, tuple(shape))}))
        return
    load = Path("/proc/loadavg").read_text().split()[0]
    started = time.perf_counter()
    limits = ceilings()
    print(f"{torch.get_num_threads()} threads; load average at start {load}")
    print(
        f"machine ceilings: fp32 matmul 4096² {limits.gflops:.0f} GFLOP/s; copy {limits.gbytes:.1f} GB/s; "
        f"ridge {limits.balance:.1f} FLOP/byte"
    )
    parts = {"infer": infer_part, "window": window_part, "export": export_part, "train": train_part}
    ordered = [part for part in PARTS if part in args.parts]  # train last: it sets the seed's determinism
    print_bounds([bound for part in ordered for bound in parts[part](args, limits)])
    load = Path("/proc/loadavg").read_text().split()[0]
    print(f"({time.perf_counter() - started:.0f} s; load average now {load})")


if __name__ == "__main__":
    main()
