"""The hand-written MONAI training loop a user would write: the peer of benchmarks/train.py (epoch by epoch)
and benchmarks/train_process.py (a whole process, imports included).

CacheDataset (load, channels first, intensity window −57..164 → 0..1, FgBgToIndicesd cached) + ThreadDataLoader,
`batch` pos/neg crops of one volume per batch, flip and rotate (probability 0, as in the seed), intensity
scaling ±0.1; a UNet, DiceLoss with softmax, Adam, a per-iteration StepLR; `torch.save` of model and optimizer
after every epoch; the seed's determinism.

    python benchmarks/monai_train_loop.py --datalist D --output O [--crop 32 --batch 3 --epochs 10]
"""

import argparse
import json
from pathlib import Path

import torch
from monai.data import CacheDataset, ThreadDataLoader, list_data_collate
from monai.losses import DiceLoss
from monai.networks.nets import UNet
from monai.transforms import (
    Compose,
    DeleteItemsd,
    EnsureChannelFirstd,
    FgBgToIndicesd,
    LoadImaged,
    RandAxisFlipd,
    RandCropByPosNegLabeld,
    RandRotate90d,
    RandScaleIntensityd,
    ScaleIntensityRanged,
)
from monai.utils import set_determinism

LR, DECAY_RATIO, DECAY_FREQ = 1e-4, 0.1, 50000  # the seed's learning_rate and DecayOnStep
INDICES = ("label_fg_indices", "label_bg_indices")


def network(channels: tuple[int, ...]) -> UNet:
    strides = [2] * (len(channels) - 1)
    return UNet(
        spatial_dims=3, in_channels=1, out_channels=2, channels=channels, strides=strides, num_res_units=1
    )


def loader(datalist: Path, crop: int, batch: int) -> ThreadDataLoader:
    """The cached training pipeline over the datalist's `training` list (paths relative to its folder)."""
    keys = ["image", "label"]
    chain = Compose(
        [
            LoadImaged(keys, image_only=True),
            EnsureChannelFirstd(keys),
            ScaleIntensityRanged("image", a_min=-57, a_max=164, b_min=0.0, b_max=1.0, clip=True),
            FgBgToIndicesd("label"),
            RandCropByPosNegLabeld(
                keys,
                label_key="label",
                spatial_size=[crop] * 3,
                pos=1,
                neg=1,
                num_samples=batch,
                fg_indices_key=INDICES[0],
                bg_indices_key=INDICES[1],
            ),
            DeleteItemsd(list(INDICES)),
            RandAxisFlipd(keys, prob=0.0),
            RandRotate90d(keys, prob=0.0),
            RandScaleIntensityd("image", factors=0.1, prob=1.0),
        ]
    )
    entries = json.loads(datalist.read_text())["training"]
    data = [{k: str(datalist.parent / v) for k, v in e.items()} for e in entries]
    dataset = CacheDataset(data, chain, cache_rate=1.0, num_workers=2, progress=False)
    return ThreadDataLoader(dataset, batch_size=1, shuffle=True, num_workers=0, collate_fn=list_data_collate)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datalist", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--crop", type=int, default=32)
    parser.add_argument("--batch", type=int, default=3)
    parser.add_argument("--channels", type=int, nargs="+", default=(8, 16, 32))
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    set_determinism(seed=123456)
    torch.use_deterministic_algorithms(True, warn_only=True)
    model = network(tuple(args.channels))
    loss_function = DiceLoss(to_onehot_y=True, softmax=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=DECAY_FREQ, gamma=DECAY_RATIO)
    batches = loader(args.datalist, args.crop, args.batch)
    args.output.mkdir(parents=True, exist_ok=True)
    for _ in range(args.epochs):
        model.train()
        for batch in batches:
            optimizer.zero_grad(set_to_none=True)
            loss = loss_function(model(batch["image"].as_tensor()), batch["label"].as_tensor())
            loss.backward()
            optimizer.step()
            loss.item()
            scheduler.step()
        torch.save(
            {"model": model.state_dict(), "optimizer": optimizer.state_dict()}, args.output / "model.pt"
        )


if __name__ == "__main__":
    main()
