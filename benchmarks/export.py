"""Inference time of the exported ONNX model in onnxruntime vs the same network in PyTorch eager, on CPU.

Each case builds a network as a training config names it, saves it as `model.pt`, exports it with
`clara_tlt.export.export_model` (which verifies it), then times one batch-1 forward pass of the ONNX file in
onnxruntime (ours) and of the PyTorch network in eager mode (peer) on the same random input, and prints the
largest absolute difference between their outputs. Both use every CPU core torch sees.

Target (CPU): onnxruntime at least as fast as PyTorch eager, i.e. ours/peer time ≤ 1.0.

    .venv/bin/python benchmarks/export.py [--repeats 3] [--cases unet segahnet densenet121]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch

from clara_tlt.engines.checkpoint import model_payload, network_from_checkpoint, save_checkpoint
from clara_tlt.export import ExportOptions, export_model
from clara_tlt.factory.registry import build

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Measurement, median_seconds, ratio_table

# name → (network spec, ROI); sizes a CPU runs in seconds
CASES: dict[str, tuple[dict[str, Any], list[int]]] = {
    "unet": (
        {
            "name": "UNet",
            "args": {
                "spatial_dims": 3,
                "in_channels": 1,
                "out_channels": 2,
                "channels": [16, 32, 64, 128],
                "strides": [2, 2, 2],
                "num_res_units": 2,
            },
        },
        [96, 96, 96],
    ),
    "segahnet": ({"name": "SegAhnet", "args": {"num_classes": 2}}, [64, 64, 64]),
    "densenet121": ({"name": "DenseNet121", "args": {"num_classes": 15, "in_channels": 3}}, [224, 224]),
}


def measure(name: str, folder: Path, repeats: int) -> tuple[Measurement, float]:
    spec, roi = CASES[name]
    torch.manual_seed(0)
    network = build(spec, "network", file="benchmark", key_path="model").eval()
    conf = {"train": {"model": spec}, "validate": {"inferer": {"args": {"roi_size": roi}}}}
    checkpoint = save_checkpoint(
        folder / name / "model.pt", model_payload(network, conf, epoch=1, metric=None)
    )
    summary = export_model(checkpoint, ExportOptions(max_batch_size=1))
    network, _ = network_from_checkpoint(checkpoint)
    session = ort.InferenceSession(str(checkpoint.with_suffix(".onnx")), providers=["CPUExecutionProvider"])
    shape = [1 if size == -1 else size for size in summary["input_shape"]]
    x = np.random.default_rng(0).random(shape, dtype=np.float32)

    def eager() -> np.ndarray:
        with torch.no_grad():
            return network(torch.from_numpy(x)).numpy()

    def onnxruntime() -> np.ndarray:
        return session.run(["NV_MODEL_OUTPUT"], {"NV_MODEL_INPUT": x})[0]

    difference = float(np.max(np.abs(onnxruntime() - eager())))
    row = Measurement(
        case=f"{name} {tuple(shape)}",
        ours_s=median_seconds(onnxruntime, repeats=repeats),
        peer_s=median_seconds(eager, repeats=repeats),
    )
    return row, difference


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=list(CASES))
    args = parser.parse_args()
    rows, differences = [], []
    with tempfile.TemporaryDirectory() as folder:
        for name in args.cases:
            row, difference = measure(name, Path(folder), args.repeats)
            rows.append(row)
            differences.append(difference)
    print(
        ratio_table(
            f"ONNX in onnxruntime vs PyTorch eager, CPU, {torch.get_num_threads()} threads", "eager", rows
        )
    )
    for row, difference in zip(rows, differences, strict=True):
        print(f"{row.case:<40} max abs diff {difference:.3g}")


if __name__ == "__main__":
    main()
