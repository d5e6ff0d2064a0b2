"""End-to-end `tlt-infer` vs the hand-written MONAI loop a user would write, both as whole processes.

Input: `--cases` synthetic CT volumes (int16 NIfTI, 1.5 × 1.5 × 3 mm) and a small random-weight UNet saved as
the `model.pt` the train engine writes. Both sides read each volume, scale it (−57..164 → 0..1, clipped), run
scanning-window inference (roi `--roi`³, overlap 0.25, `--batch` windows per forward, constant blending), take
the argmax and write three uint8 `.nii.gz` per case: the label and one mask per class.

- ours: the `tlt-infer` console script on the seed's config_validation_spleen.json (window, batch and overlap
  set as above), every check on: datalist checks, write verification;
- ours, ONNX: the same `tlt-infer` with `--model_save_path models/model.onnx`, the checkpoint exported once
  (untimed) by clara_tlt's export (`export_model`, default options: batch dynamic up to 5, fixed 96³ window), as
  a user who exports their model runs it: onnxruntime's CPU provider with formats/onnx.py's session options;
- peer: benchmarks/monai_infer_loop.py, `python` running LoadImaged, EnsureChannelFirstd, ScaleIntensityRanged,
  sliding_window_inference under torch.inference_mode, argmax, SaveImage ×3.

Each is timed as a whole process (Python start-up and imports included) with the same `OMP_NUM_THREADS`, the
contenders alternating for `--rounds` rounds; the best round of each is compared and the spread printed as
noise. The labels of every case, each of ours against the peer's, are compared voxel by voxel (target: ≥ 99.9 %
agree). `--compare-src DIR` adds both of ours again with DIR (another checkout's `src`) first on PYTHONPATH:
before → after in one run.
Target (issue 25): time ratio ours ÷ peer ≤ 0.25.

    .venv/bin/python benchmarks/infer.py --size tiny     # 2 cases of 48×48×32, roi 32, one round
    .venv/bin/python benchmarks/infer.py --size issue    # 6 cases of 192×192×96, roi 96, best of 2
    .venv/bin/python benchmarks/infer.py --cases 8 --shape 160 160 80 --roi 64 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

import nibabel as nib
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import SEED_CONFIGS, Measurement, best_of, noise, ratio_table, run_process

from clara_tlt.export import ExportOptions, export_model

SEED_CONFIG = SEED_CONFIGS / "config_validation_spleen.json"
BIN = Path(sys.executable).parent
PEER_SCRIPT = Path(__file__).resolve().parent / "monai_infer_loop.py"
UNET = {
    "name": "UNet",
    "args": {
        "spatial_dims": 3,
        "in_channels": 1,
        "out_channels": 2,
        "channels": [8, 16, 32],
        "strides": [2, 2],
        "num_res_units": 1,
    },
}
OVERLAP, WINDOWS_PER_FORWARD = 0.25, 3
OUTPUTS = ("model", "pred_class0", "pred_class1")
SIZES = {  # --size: cases, shape, roi, rounds
    "tiny": (2, (48, 48, 32), 32, 1),
    "issue": (6, (192, 192, 96), 96, 2),
}


def make_inputs(root: Path, cases: int, shape: tuple[int, int, int]) -> Path:
    """Volumes, datalist.json and models/model.pt under `root`; returns the datalist's path."""
    from clara_tlt.factory.registry import build

    rng = np.random.default_rng(0)
    entries = []
    for index in range(cases):
        volume = rng.normal(0, 120, size=shape).astype(np.int16)
        affine = np.diag([1.5, 1.5, 3.0, 1.0])
        nib.save(nib.Nifti1Image(volume, affine), root / "images" / f"case_{index:03d}.nii.gz")
        entries.append({"image": f"images/case_{index:03d}.nii.gz"})
    torch.manual_seed(0)
    network = build(UNET, "network", file="benchmark", key_path="model")
    (root / "models").mkdir()
    torch.save(
        {"model": network.state_dict(), "train_conf": {"train": {"model": UNET}}},
        root / "models" / "model.pt",
    )
    datalist = root / "datalist.json"
    datalist.write_text(json.dumps({"validation": entries}))
    return datalist


def export_onnx(root: Path, roi: int) -> Path:
    """models/model.pt exported by clara_tlt's export with its default options at the `roi`³ window (what
    `tlt-export` writes from a training config whose validation inferer has that window); returns model.onnx."""
    config = {"train": {"model": UNET}, "validate": {"inferer": {"args": {"roi_size": [roi] * 3}}}}
    export_model(root / "models" / "model.pt", ExportOptions(), config=config)
    return root / "models" / "model.onnx"


def write_config(root: Path, roi: int, *, outputs: int = 1, batch: int = WINDOWS_PER_FORWARD) -> Path:
    """The seed's validation config under `root` with the benchmark's window and its first `outputs` uint8
    writers (1: the label; 3: the label and a mask per class, as the seed writes)."""
    config = json.loads(SEED_CONFIG.read_text())
    config["inferer"]["args"].update({"roi_size": [roi] * 3, "batch_size": batch, "overlap": OVERLAP})
    if outputs == 1:
        config["post_transforms"] = config["post_transforms"][:1]  # ArgmaxAcrossChannels
    config["writers"] = config["writers"][:outputs]
    config.pop("val_metrics", None)  # no labels in the datalist: infer, not evaluate
    config_file = root / "config_validation.json"
    config_file.write_text(json.dumps(config))
    return config_file


def commands(root: Path, datalist: Path, roi: int, batch: int) -> dict[str, list[str]]:
    """The whole-process command lines, writing under root/ours, root/onnx (`tlt-infer` on the exported
    model.onnx, when root/models holds one) and root/peer."""
    config = write_config(root, roi, outputs=len(OUTPUTS), batch=batch)
    model = str(root / "models" / "model.pt")
    ours = [str(BIN / "tlt-infer"), "--model_save_path", model, "--config", str(config)]
    ours += ["--data_file", str(datalist), "--file_root", str(root), "--output_path", str(root / "ours")]
    peer = [sys.executable, str(PEER_SCRIPT), "--datalist", str(datalist), "--root", str(root)]
    peer += ["--model", model, "--output", str(root / "peer"), "--roi", str(roi), "--batch", str(batch)]
    lines = {"ours": ours, "peer": peer}
    if (root / "models" / "model.onnx").is_file():
        lines["onnx"] = [*ours[:2], str(root / "models" / "model.onnx"), *ours[3:-1], str(root / "onnx")]
    return lines


def labels_agree(root: Path, cases: int, ours_folder: str = "ours") -> float:
    """The fraction of voxels, over every case and all three outputs, where root/`ours_folder` and the peer
    wrote the same value."""
    same = total = 0
    for index in range(cases):
        for output in OUTPUTS:
            name = f"case_{index:03d}_{output}.nii.gz"
            ours = np.asarray(nib.load(root / ours_folder / f"case_{index:03d}" / name).dataobj).squeeze()
            peer = np.asarray(nib.load(root / "peer" / name).dataobj).squeeze()
            if ours.shape != peer.shape:
                raise SystemExit(f"{name}: ours has shape {ours.shape}, the peer's {peer.shape}")
            same += int((ours == peer).sum())
            total += ours.size
    return same / total


def contenders(
    lines: dict[str, list[str]], root: Path, args: argparse.Namespace
) -> dict[str, Callable[[], str]]:
    """Each command line as a whole-process run; with --compare-src, ours and onnx again with that src/ first
    on PYTHONPATH, writing under root/"<who> before"."""
    runs: dict[str, Callable[[], str]] = {
        who: partial(run_process, c, args.threads) for who, c in lines.items()
    }
    for who in ("ours", "onnx") if args.compare_src else ():
        before = [*lines[who][:-1], str(root / f"{who} before")]
        runs[f"{who} before"] = partial(run_process, before, args.threads, python_path=args.compare_src)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="issue", help="a preset of the four below")
    parser.add_argument("--cases", type=int)
    parser.add_argument("--shape", type=int, nargs=3)
    parser.add_argument("--roi", type=int)
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--batch", type=int, default=WINDOWS_PER_FORWARD, help="windows per forward pass")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--compare-src", help="another checkout's src/: its tlt-infer timed too (before → after)"
    )
    args = parser.parse_args()
    cases, shape, roi, rounds = SIZES[args.size]
    cases, roi, rounds = args.cases or cases, args.roi or roi, args.rounds or rounds
    shape = tuple(args.shape or shape)
    load = Path("/proc/loadavg").read_text().split()[0]
    root = Path(tempfile.mkdtemp(prefix="infer_bench_"))
    try:
        (root / "images").mkdir()
        datalist = make_inputs(root, cases, shape)
        export_onnx(root, roi)
        lines = commands(root, datalist, roi, args.batch)
        times = best_of(contenders(lines, root, args), rounds)
        agree = {who: labels_agree(root, cases, who) for who in times if who != "peer"}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    case = f"{cases} cases {'×'.join(map(str, shape))}, roi {roi}³, batch {args.batch}"
    names = {"ours": case, "onnx": f"{case}, exported model.onnx"}
    names |= {f"{who} before": f"{names[who]}, before" for who in ("ours", "onnx")}
    rows = [Measurement(names[who], min(t), min(times["peer"])) for who, t in times.items() if who != "peer"]
    print(ratio_table(f"tlt-infer end to end, whole processes, {args.threads} threads", "MONAI loop", rows))
    print(
        f"best of {rounds}; noise: "
        + ", ".join(f"{who} {noise(t)}" for who, t in times.items())
        + f"; load {load}"
        + (f"; before: {args.compare_src}" if args.compare_src else "")
    )
    for who, fraction in agree.items():
        verdict = "ok" if fraction >= 0.999 else "BELOW the 99.9 % target"
        print(f"labels of {who} agree with the MONAI loop's: {100 * fraction:.4f} % of voxels ({verdict})")
    print("target ratio ≤ 0.25")


if __name__ == "__main__":
    main()
