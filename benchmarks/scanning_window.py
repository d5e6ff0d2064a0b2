"""Time and peak memory of our ScanWindowInferer vs MONAI's sliding_window_inference, plain and label mode.

Same random volume (default 256×256×160, one channel), same network (one 3-D convolution to 8 classes),
same settings (roi 96³, overlap 0.25, constant blend, 2 windows per forward). Plain mode returns the blended
`(1, 8, H, W, D)` scores; label mode returns `(1, 1, H, W, D)` uint8 labels: ours with `labels = True`, the
peer as MONAI's scores followed by `argmax(dim=1, keepdim=True).to(torch.uint8)`.

Time: `harness.median_seconds` (one warm-up, then the median of repeats), both in this process.
Memory: tracemalloc cannot see torch's allocations, so each contender runs once more in a fresh subprocess
that builds the inputs, runs one warm-up call, then resets the kernel's RSS high-water mark (writing 5 to
/proc/self/clear_refs), makes one call and reads VmHWM from /proc/self/status. The figure is the high-water
mark minus the resident size just before the call: the memory the call itself adds (Linux only).

Targets (CPU): time ≤ 1.0× in both modes; peak memory in label mode ≤ 0.5×.

    .venv/bin/python benchmarks/scanning_window.py [--shape 256 256 160] [--classes 8] [--repeats 3]
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
from harness import Measurement, median_seconds, ratio_table

ROI = (96, 96, 96)
BATCH = 2
OVERLAP = 0.25
CONTENDERS = ("ours-plain", "monai-plain", "ours-labels", "monai-labels")


def make_inputs(shape: tuple[int, ...], classes: int) -> tuple[torch.Tensor, torch.nn.Module]:
    torch.manual_seed(0)
    network = torch.nn.Conv3d(1, classes, 3, padding=1).eval()
    return torch.randn(1, 1, *shape), network


def contender(name: str, volume: torch.Tensor, network: torch.nn.Module) -> Callable[[], torch.Tensor]:
    ours = ScanWindowInferer(ROI, batch_size=BATCH, overlap=OVERLAP, labels=name == "ours-labels")

    def monai() -> torch.Tensor:
        with torch.no_grad():
            scores = sliding_window_inference(volume, ROI, BATCH, network, overlap=OVERLAP)
        return scores.argmax(dim=1, keepdim=True).to(torch.uint8) if name == "monai-labels" else scores

    return (lambda: ours(volume, network)) if name.startswith("ours") else monai


def status_mib(field: str) -> float:
    found = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    assert found is not None, f"no {field} in /proc/self/status"
    return int(found.group(1)) / 1024


def measure_memory(name: str, shape: tuple[int, ...], classes: int) -> float:
    """In this (fresh) process: MiB the call adds at its peak over the resident size before it."""
    run = contender(name, *make_inputs(shape, classes))
    run()  # warm-up: kernels, thread pools and allocator caches are not the call's cost
    before = status_mib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # high-water mark := current resident size
    result = run()
    peak = status_mib("VmHWM")
    del result
    return peak - before


def memory_in_subprocess(name: str, shape: tuple[int, ...], classes: int) -> float:
    command = [sys.executable, __file__, "--memory-of", name, "--classes", str(classes)]
    command += ["--threads", str(torch.get_num_threads()), "--shape", *(str(s) for s in shape)]
    output = subprocess.run(command, capture_output=True, text=True, check=True)
    return float(json.loads(output.stdout.strip().splitlines()[-1])["peak_mib"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=[256, 256, 160])
    parser.add_argument("--classes", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--memory-of", choices=CONTENDERS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    shape = tuple(args.shape)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_of:
        print(json.dumps({"peak_mib": measure_memory(args.memory_of, shape, args.classes)}))
        return

    load = Path("/proc/loadavg").read_text().split()[0]
    volume, network = make_inputs(shape, args.classes)
    with torch.no_grad():
        reference = sliding_window_inference(volume, ROI, BATCH, network, overlap=OVERLAP)
    ours_scores = contender("ours-plain", volume, network)()
    ours_labels = contender("ours-labels", volume, network)()
    difference = (ours_scores - reference).abs().max().item()
    agree = torch.equal(ours_labels.long(), reference.argmax(dim=1, keepdim=True))
    print(f"max |ours - MONAI| = {difference:.2e}; labels equal argmax of MONAI: {agree}")
    del reference, ours_scores, ours_labels

    times, memory = [], []
    for mode in ("plain", "labels"):
        seconds = {
            who: median_seconds(contender(f"{who}-{mode}", volume, network), repeats=args.repeats)
            for who in ("ours", "monai")
        }
        times.append(Measurement(f"{mode} {shape} C={args.classes}", seconds["ours"], seconds["monai"]))
        peak = {who: memory_in_subprocess(f"{who}-{mode}", shape, args.classes) for who in ("ours", "monai")}
        memory.append((mode, peak["ours"], peak["monai"]))

    print(f"torch threads: {torch.get_num_threads()}; load average at start: {load}")
    print(ratio_table("time: ScanWindowInferer vs sliding_window_inference", "MONAI", times))
    print("peak memory added by the call (MiB, RSS high-water mark in a fresh process)")
    print(f"{'case':<40} {'ours':>10} {'MONAI':>18} {'ours/peer':>10}")
    for mode, ours, peer in memory:
        print(f"{mode:<40} {ours:>10.0f} {peer:>18.0f} {ours / peer:>10.2f}")


if __name__ == "__main__":
    main()
