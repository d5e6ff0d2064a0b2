"""The hand-written MONAI inference loop a user would write: issue 25's peer for benchmarks/infer.py.

For each case of the datalist's `validation` list: LoadImaged, EnsureChannelFirstd, ScaleIntensityRanged
(−57..164 → 0..1, clipped), sliding_window_inference under torch.inference_mode, argmax, then three uint8
NIfTI files (the label and a mask per class, as the seed's validation config writes): `<case>_model`,
`<case>_pred_class0`, `<case>_pred_class1`. Run as a whole process (imports included):

    python benchmarks/monai_infer_loop.py --datalist D --root R --model M --output O --roi 96 --batch 3
"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from monai.inferers import sliding_window_inference
from monai.networks.nets import UNet
from monai.transforms import Compose, EnsureChannelFirstd, LoadImaged, SaveImage, ScaleIntensityRanged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datalist", type=Path, required=True)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--roi", type=int, required=True)
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--overlap", type=float, default=0.25)
    args = parser.parse_args()

    checkpoint = torch.load(args.model, weights_only=True)
    network = UNet(**checkpoint["train_conf"]["train"]["model"]["args"]).eval()
    network.load_state_dict(checkpoint["model"])
    load = Compose(
        [
            LoadImaged("image", image_only=True),
            EnsureChannelFirstd("image"),
            ScaleIntensityRanged("image", a_min=-57, a_max=164, b_min=0.0, b_max=1.0, clip=True),
        ]
    )
    savers = {
        name: SaveImage(
            output_dir=str(args.output),
            output_postfix=name,
            output_dtype=np.uint8,
            resample=False,
            separate_folder=False,
            print_log=False,
        )
        for name in ("model", "pred_class0", "pred_class1")
    }
    for entry in json.loads(args.datalist.read_text())["validation"]:
        image = load({"image": str(args.root / entry["image"])})["image"]
        with torch.inference_mode():
            scores = sliding_window_inference(image[None], (args.roi,) * 3, args.batch, network, args.overlap)
            label = scores[0].argmax(0, keepdim=True)
            outputs = {"model": label, "pred_class0": label == 0, "pred_class1": label == 1}
            for name, output in outputs.items():
                savers[name](output.to(torch.uint8), meta_data=image.meta)


if __name__ == "__main__":
    main()
