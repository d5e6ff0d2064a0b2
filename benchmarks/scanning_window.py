"""Time and peak memory of our ScanWindowInferer vs MONAI's sliding_window_inference, plain and label mode.

Same random volume (`--size issue`: 256×256×160, one channel), same network (`--network conv`: one 3-D
convolution to 8 classes; `--network unet`: the small UNet of benchmarks/infer.py, 2 classes), same settings
(roi 96³, overlap 0.25, constant blend, 2 windows per forward), same torch threads. Plain mode returns the
blended `(1, C, H, W, D)` scores; label mode returns `(1, 1, H, W, D)` uint8 labels: ours with `labels = True`,
the peer as MONAI's scores followed by `argmax(dim=1, keepdim=True).to(torch.uint8)`. The peer runs under
`torch.inference_mode`; ours as the infer engine calls it.

Time: both in this process, one warm-up call each, then `--rounds` rounds alternating ours and MONAI
(`harness.best_of`); the best round of each is compared, the spread printed as noise.
Memory: tracemalloc cannot see torch's allocations, so each contender runs once more in a fresh subprocess
that builds the inputs, runs one warm-up call, then resets the kernel's RSS high-water mark (writing 5 to
/proc/self/clear_refs), makes one call and reads VmHWM from /proc/self/status. The figure is the high-water
mark minus the resident size just before the call: the memory the call itself adds (Linux only).

Targets (issue 25): time ratio ours ÷ MONAI ≤ 0.7 in both modes, outputs equal to 1e-5; peak memory in
label mode ≤ 0.35× MONAI's. On a machine other processes share, use `--threads 1`: label mode runs many
small tensor operations, each an OpenMP region whose barrier waits for a thread the kernel has descheduled;
with 2 threads on 2 busy cores (load 10) it measured 2.3× MONAI's time, with 1 thread 0.47×.

    .venv/bin/python benchmarks/scanning_window.py --size tiny            # 64×64×48, roi 32³, one round
    .venv/bin/python benchmarks/scanning_window.py [--size issue] [--network unet] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from monai.inferers import sliding_window_inference

from clara_tlt.inferers import ScanWindowInferer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Measurement, best_of, noise, ratio_table

BATCH = 2
OVERLAP = 0.25
CONTENDERS = ("ours-plain", "monai-plain", "ours-labels", "monai-labels")
SIZES = {"tiny": ((64, 64, 48), 32, 1), "issue": ((256, 256, 160), 96, 3)}  # shape, roi edge, rounds


def make_inputs(shape: tuple[int, ...], classes: int, kind: str) -> tuple[torch.Tensor, torch.nn.Module]:
    torch.manual_seed(0)
    if kind == "unet":
        from monai.networks.nets import UNet

        network: torch.nn.Module = UNet(3, 1, classes, channels=(8, 16, 32), strides=(2, 2), num_res_units=1)
    else:
        network = torch.nn.Conv3d(1, classes, 3, padding=1)
    return torch.randn(1, 1, *shape), network.eval()


def contender(
    name: str, volume: torch.Tensor, network: torch.nn.Module, roi: tuple[int, ...]
) -> Callable[[], torch.Tensor]:
    ours = ScanWindowInferer(roi, batch_size=BATCH, overlap=OVERLAP, labels=name == "ours-labels")

    def monai() -> torch.Tensor:
        with torch.inference_mode():
            scores = sliding_window_inference(volume, roi, BATCH, network, overlap=OVERLAP)
        return scores.argmax(dim=1, keepdim=True).to(torch.uint8) if name == "monai-labels" else scores

    return (lambda: ours(volume, network)) if name.startswith("ours") else monai


def status_mib(field: str) -> float:
    found = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    assert found is not None, f"no {field} in /proc/self/status"
    return int(found.group(1)) / 1024


def measure_memory(name: str, args: argparse.Namespace) -> float:
    """In this (fresh) process: MiB the call adds at its peak over the resident size before it."""
    run = contender(name, *make_inputs(args.shape, args.classes, args.network), args.roi)
    run()  # warm-up: kernels, thread pools and allocator caches are not the call's cost
    before = status_mib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # high-water mark := current resident size
    result = run()
    peak = status_mib("VmHWM")
    del result
    return peak - before


def memory_in_subprocess(name: str, args: argparse.Namespace) -> float:
    command = [sys.executable, __file__, "--memory-of", name, "--classes", str(args.classes)]
    command += ["--threads", str(torch.get_num_threads()), "--shape", *(str(s) for s in args.shape)]
    command += ["--network", args.network, "--roi", str(args.roi[0])]
    output = subprocess.run(command, capture_output=True, text=True, check=True)
    return float(json.loads(output.stdout.strip().splitlines()[-1])["peak_mib"])


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size", choices=sorted(SIZES), default="issue", help="a preset of shape, roi, rounds"
    )
    parser.add_argument("--shape", type=int, nargs=3)
    parser.add_argument("--roi", type=int, help="window edge (voxels)")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--network", choices=("conv", "unet"), default="conv")
    parser.add_argument("--classes", type=int, help="output channels (default: 8 conv, 2 unet)")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--memory-of", choices=CONTENDERS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    shape, roi, rounds = SIZES[args.size]
    args.shape, args.rounds = tuple(args.shape or shape), args.rounds or rounds
    args.roi = (args.roi or roi,) * 3
    args.classes = args.classes or (2 if args.network == "unet" else 8)
    if args.threads:
        torch.set_num_threads(args.threads)
    return args


def check_outputs(volume: torch.Tensor, network: torch.nn.Module, roi: tuple[int, ...]) -> None:
    """Print the largest difference from MONAI's scores (target 1e-5) and whether the labels equal its argmax."""
    with torch.inference_mode():
        reference = sliding_window_inference(volume, roi, BATCH, network, overlap=OVERLAP)
    difference = (contender("ours-plain", volume, network, roi)() - reference).abs().max().item()
    labels = contender("ours-labels", volume, network, roi)()
    agree = torch.equal(labels.long(), reference.argmax(dim=1, keepdim=True))
    verdict = "ok" if difference <= 1e-5 else "ABOVE the 1e-5 target"
    print(f"max |ours - MONAI| = {difference:.2e} ({verdict}); labels equal argmax of MONAI: {agree}")


def main() -> None:
    args = parse()
    if args.memory_of:
        print(json.dumps({"peak_mib": measure_memory(args.memory_of, args)}))
        return
    load = Path("/proc/loadavg").read_text().split()[0]
    volume, network = make_inputs(args.shape, args.classes, args.network)
    check_outputs(volume, network, args.roi)
    times, memory, spread = [], [], []
    for mode in ("plain", "labels"):
        runs = {who: contender(f"{who}-{mode}", volume, network, args.roi) for who in ("ours", "monai")}
        seconds = best_of(runs, args.rounds, warmup=True)
        case = f"{mode} {'×'.join(map(str, args.shape))} {args.network} C={args.classes}"
        times.append(Measurement(case, min(seconds["ours"]), min(seconds["monai"])))
        spread.append(f"{mode}: ours {noise(seconds['ours'])}, MONAI {noise(seconds['monai'])}")
        peak = {who: memory_in_subprocess(f"{who}-{mode}", args) for who in ("ours", "monai")}
        memory.append((mode, peak["ours"], peak["monai"]))

    print(f"torch threads: {torch.get_num_threads()}; roi {args.roi[0]}³; load average at start: {load}")
    print(ratio_table("time: ScanWindowInferer vs sliding_window_inference (target ≤ 0.7)", "MONAI", times))
    print(f"best of {args.rounds}; noise: " + "; ".join(spread))
    print("peak memory added by the call (MiB, RSS high-water mark in a fresh process; label target ≤ 0.35)")
    print(f"{'case':<40} {'ours':>10} {'MONAI':>18}  ratio")
    for mode, ours, peer in memory:
        print(f"{mode:<40} {ours:>10.0f} {peer:>18.0f}  {ours / peer:.2f} memory ratio ours÷peer (<1: less)")


if __name__ == "__main__":
    main()
