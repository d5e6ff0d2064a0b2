"""End-to-end `infer` over many volumes vs the equivalent hand-written MONAI script.

Input: `--cases` synthetic CT volumes (default 8 of 160×160×80, int16 NIfTI) and a small random-weight UNet
saved as a `model.pt` the way the train engine writes it. Both sides read each volume, scale it (a_min -57,
a_max 164 to [0, 1], clipped), run scanning-window inference (roi `--roi`, overlap 0.25, 3 windows per
forward, constant blending), take the argmax and write the uint8 labels as `<case>_model.nii.gz`.

- ours: `clara_tlt.engines.runner.run_config` on the seed's config_validation.json (its
  `ArgmaxAcrossChannels` first post-transform makes the inferer stream labels; one writer, field `model`),
  reading case n+1 and writing case n−1 while case n is inferred;
- peer: the MONAI loop `LoadImaged → EnsureChannelFirstd → ScaleIntensityRanged → sliding_window_inference →
  AsDiscrete(argmax) → SaveImaged`, one case after the other; as MONAI's tutorials write it (the network
  sees the MetaTensor), and again with the network given a plain tensor (a second row).

Time: `harness.median_seconds` over whole runs (one warm-up, then the median of `--repeats`).
Target: ours ≤ 0.75× the peer's wall time.

    .venv/bin/python benchmarks/infer.py [--cases 8] [--shape 160 160 80] [--roi 64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import SEED_CONFIGS, Measurement, median_seconds, ratio_table

SEED_CONFIG = SEED_CONFIGS / "config_validation_spleen.json"
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


def write_config(root: Path, roi: int) -> Path:
    """The seed's validation config with the benchmark's window, argmax and one uint8 writer, under `root`."""
    config = json.loads(SEED_CONFIG.read_text())
    config["inferer"]["args"].update(
        {"roi_size": [roi] * 3, "batch_size": WINDOWS_PER_FORWARD, "overlap": OVERLAP}
    )
    config["post_transforms"] = config["post_transforms"][:1]  # ArgmaxAcrossChannels
    config["writers"] = config["writers"][:1]  # WriteNifti of `model`, uint8
    config_file = root / "config_validation.json"
    config_file.write_text(json.dumps(config))
    return config_file


def ours(root: Path, datalist: Path, roi: int) -> Callable[[], object]:
    from clara_tlt.config import load_config
    from clara_tlt.engines.runner import run_config

    config_file = write_config(root, roi)
    variables = {
        "DATASET_JSON": str(datalist),
        "DATA_ROOT": str(root),
        "MMAR_CKPT_DIR": str(root / "models"),
        "MMAR_EVAL_OUTPUT_PATH": str(root / "ours"),
    }

    def run() -> object:
        return run_config(load_config(str(config_file), variables=variables), score=False)

    return run


def peer(root: Path, datalist: Path, roi: int, *, plain: bool) -> Callable[[], object]:
    """The MONAI loop; `plain` passes the network a plain tensor instead of the MetaTensor LoadImaged made
    (MONAI's tutorials pass the MetaTensor, whose metadata costs time in every operation)."""
    from monai.data import MetaTensor
    from monai.inferers import sliding_window_inference
    from monai.networks.nets import UNet
    from monai.transforms import (
        AsDiscrete,
        Compose,
        EnsureChannelFirstd,
        LoadImaged,
        SaveImaged,
        ScaleIntensityRanged,
    )

    network = UNet(**UNET["args"]).eval()
    network.load_state_dict(torch.load(root / "models" / "model.pt", weights_only=True)["model"])
    entries = [{"image": str(root / e["image"])} for e in json.loads(datalist.read_text())["validation"]]
    load = Compose(
        [
            LoadImaged("image", image_only=True),
            EnsureChannelFirstd("image"),
            ScaleIntensityRanged("image", a_min=-57, a_max=164, b_min=0.0, b_max=1.0, clip=True),
        ]
    )
    argmax = AsDiscrete(argmax=True)
    save = SaveImaged(
        "model",
        output_dir=str(root / "peer"),
        output_postfix="model",
        output_dtype=np.uint8,
        resample=False,
        separate_folder=True,
        print_log=False,
    )

    def run() -> object:
        for entry in entries:
            sample = load(entry)
            image = sample["image"][None]
            with torch.no_grad():
                scores = sliding_window_inference(
                    image.as_tensor() if plain else image,
                    (roi,) * 3,
                    WINDOWS_PER_FORWARD,
                    network,
                    overlap=OVERLAP,
                )
            sample["model"] = (
                argmax(scores[0]) if not plain else MetaTensor(argmax(scores[0]), meta=sample["image"].meta)
            )
            save(sample)
        return None

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=8)
    parser.add_argument("--shape", type=int, nargs=3, default=(160, 160, 80))
    parser.add_argument("--roi", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="infer_bench_"))
    try:
        (root / "images").mkdir()
        datalist = make_inputs(root, args.cases, tuple(args.shape))
        ours_s = median_seconds(ours(root, datalist, args.roi), repeats=args.repeats)
        peer_s = median_seconds(peer(root, datalist, args.roi, plain=False), repeats=args.repeats)
        same = _labels_agree(root, args.cases)
        plain_s = median_seconds(peer(root, datalist, args.roi, plain=True), repeats=args.repeats)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    shape = "×".join(map(str, args.shape))
    case = f"{args.cases} cases {shape}, roi {args.roi}³"
    rows = [Measurement(case, ours_s, peer_s), Measurement(case + ", peer on plain tensors", ours_s, plain_s)]
    print(ratio_table(f"infer end to end on {torch.get_num_threads()} threads", "MONAI loop", rows))
    print(f"labels agree with MONAI's: {same:.6f} of voxels (target ratio ≤ 0.75)")


def _labels_agree(root: Path, cases: int) -> float:
    """The fraction of voxels where both sides wrote the same label (case_000)."""
    ours_file = root / "ours" / "case_000" / "case_000_model.nii.gz"
    peer_file = next((root / "peer").rglob("case_000_model.nii.gz"))
    a, b = np.asarray(nib.load(ours_file).dataobj), np.asarray(nib.load(peer_file).dataobj)
    return float((a.squeeze() == b.squeeze()).mean()) if cases else 1.0


if __name__ == "__main__":
    main()
