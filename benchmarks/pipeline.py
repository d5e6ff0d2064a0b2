"""Samples/s of the seed spleen training pipeline vs the equivalent MONAI chain with CacheDataset.

Both read the same synthetic CT volumes (made here), cache the deterministic head (load, channels first,
intensity window) and run the random tail (3 pos/neg crops of 96³, flip, rotate, intensity oscillation)
each epoch in the iterating thread. Caches are filled before timing; each repeat is one epoch; the median
is reported.

    .venv/bin/python benchmarks/pipeline.py [--volumes 8] [--shape 160 160 112] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import torch
from monai.data import CacheDataset, DataLoader, list_data_collate
from monai.transforms import (
    Compose,
    EnsureChannelFirstd,
    LoadImaged,
    RandAxisFlipd,
    RandCropByPosNegLabeld,
    RandRotate90d,
    RandScaleIntensityd,
    ScaleIntensityRanged,
)

from clara_tlt.factory.registry import build

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import SEED_CONFIGS, Measurement, median_seconds, ratio_table

SEED_CONFIG = SEED_CONFIGS / "config_train_spleen.json"


def make_data(folder: Path, volumes: int, shape: tuple[int, int, int]) -> Path:
    rng = np.random.default_rng(0)
    entries = []
    for i in range(volumes):
        image = rng.normal(40, 80, shape).astype(np.float32)
        label = np.zeros(shape, np.uint8)
        centre = [s // 2 + int(rng.integers(-10, 10)) for s in shape]
        label[tuple(slice(c - 12, c + 12) for c in centre)] = 1
        nib.save(nib.Nifti1Image(image, np.diag([0.8, 0.8, 1.5, 1.0])), folder / f"img{i}.nii.gz")
        nib.save(nib.Nifti1Image(label, np.diag([0.8, 0.8, 1.5, 1.0])), folder / f"lab{i}.nii.gz")
        entries.append({"image": f"img{i}.nii.gz", "label": f"lab{i}.nii.gz"})
    (folder / "datalist.json").write_text(json.dumps({"training": entries}))
    return folder / "datalist.json"


def clara_pipeline(datalist: Path) -> Any:
    section = json.loads(SEED_CONFIG.read_text())["train"]
    pre = [
        build(s, "transform", file="config_train.json", key_path=f"train.pre_transforms[{i}]")
        for i, s in enumerate(section["pre_transforms"])
    ]
    spec = json.loads(json.dumps(section["image_pipeline"]))
    spec["args"].update(data_list_file_path=str(datalist), data_file_base_dir=str(datalist.parent))
    pipeline = build(
        spec,
        "image_pipeline",
        file="config_train.json",
        key_path="train.image_pipeline",
        inject={"transforms": pre},
    )
    pipeline.set_random_state(0)
    return pipeline


def monai_loader(datalist: Path) -> DataLoader:
    keys = ["image", "label"]
    chain = Compose(
        [
            LoadImaged(keys, image_only=True),
            EnsureChannelFirstd(keys),
            ScaleIntensityRanged("image", a_min=-57, a_max=164, b_min=0.0, b_max=1.0, clip=True),
            RandCropByPosNegLabeld(
                keys, label_key="label", spatial_size=(96, 96, 96), pos=1, neg=1, num_samples=3
            ),
            RandAxisFlipd(keys, prob=0.0),
            RandRotate90d(keys, prob=0.0),
            RandScaleIntensityd("image", factors=0.1, prob=1.0),
        ]
    )
    chain.set_random_state(0)
    entries = json.loads(datalist.read_text())["training"]
    data = [{k: str(datalist.parent / v) for k, v in e.items()} for e in entries]
    dataset = CacheDataset(data, chain, cache_rate=1.0, num_workers=2, progress=False)
    return DataLoader(dataset, batch_size=1, shuffle=True, num_workers=0, collate_fn=list_data_collate)


class Epochs:
    """One call runs one epoch and counts its samples; the first call also fills the cache (the warm-up)."""

    def __init__(self, batches: Any, set_epoch: Any = None) -> None:
        self.batches, self.set_epoch, self.epoch, self.samples = batches, set_epoch, 0, 0

    def __call__(self) -> None:
        if self.set_epoch:
            self.set_epoch(self.epoch)
        self.epoch += 1
        self.samples = sum(batch["image"].shape[0] for batch in self.batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--volumes", type=int, default=8)
    parser.add_argument("--shape", type=int, nargs=3, default=(160, 160, 112))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as folder:
        datalist = make_data(Path(folder), args.volumes, tuple(args.shape))
        pipeline = clara_pipeline(datalist)
        ours = Epochs(pipeline, pipeline.set_epoch)
        ours_s = median_seconds(ours, repeats=args.repeats)
        pipeline.close()
        peer = Epochs(monai_loader(datalist))
        peer_s = median_seconds(peer, repeats=args.repeats)
    case = f"{args.volumes}×{tuple(args.shape)} → 3×96³ per volume, 1 epoch"
    print(
        ratio_table(
            "seed spleen training pipeline (median epoch time)", "MONAI", [Measurement(case, ours_s, peer_s)]
        )
    )
    ours_rate, peer_rate = ours.samples / ours_s, peer.samples / peer_s
    print(f"samples/s: clara_tlt {ours_rate:.1f}, MONAI CacheDataset chain {peer_rate:.1f}")
    print(f"throughput ratio clara_tlt / MONAI: {ours_rate / peer_rate:.2f}x (target >= 1.0x)")


if __name__ == "__main__":
    main()
