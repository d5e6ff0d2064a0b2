"""Inference time of the exported ONNX model in onnxruntime vs the same network in PyTorch eager, on CPU.

Each case builds a network as a training config names it, saves it as `model.pt`, exports it with
`clara_tlt.export.export_model` (which verifies it), then times one batch-1 forward pass of the ONNX file in
onnxruntime (ours) and of the PyTorch network in eager mode (peer) on the same random input, and prints the
largest absolute difference between their outputs (target ≤ 1e-3). Both use the same number of threads
(`--threads`, default: every core torch sees; onnxruntime's intra-op threads set to it), the peer runs under
`torch.inference_mode`. The two alternate for `--rounds` rounds after a warm-up; the best is compared, the
spread printed as noise.

Target (issue 25): time ratio onnxruntime ÷ eager ≤ 0.3.

    .venv/bin/python benchmarks/export.py --cases unet --rounds 1   # quick
    .venv/bin/python benchmarks/export.py [--rounds 5] [--cases unet segahnet densenet121]
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
from harness import Measurement, best_of, noise, ratio_table

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


def measure(name: str, folder: Path, rounds: int) -> tuple[Measurement, float, str]:
    spec, roi = CASES[name]
    torch.manual_seed(0)
    network = build(spec, "network", file="benchmark", key_path="model").eval()
    conf = {"train": {"model": spec}, "validate": {"inferer": {"args": {"roi_size": roi}}}}
    checkpoint = save_checkpoint(
        folder / name / "model.pt", model_payload(network, conf, epoch=1, metric=None)
    )
    summary = export_model(checkpoint, ExportOptions(max_batch_size=1))
    network, _ = network_from_checkpoint(checkpoint)
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = ort.InferenceSession(
        str(checkpoint.with_suffix(".onnx")), options, providers=["CPUExecutionProvider"]
    )
    shape = [1 if size == -1 else size for size in summary["input_shape"]]
    x = np.random.default_rng(0).random(shape, dtype=np.float32)

    def eager() -> np.ndarray:
        with torch.inference_mode():
            return network(torch.from_numpy(x)).numpy()

    def onnxruntime() -> np.ndarray:
        return session.run(["NV_MODEL_OUTPUT"], {"NV_MODEL_INPUT": x})[0]

    difference = float(np.max(np.abs(onnxruntime() - eager())))
    times = best_of({"onnxruntime": onnxruntime, "eager": eager}, rounds, warmup=True)
    row = Measurement(f"{name} {tuple(shape)}", min(times["onnxruntime"]), min(times["eager"]))
    return row, difference, ", ".join(f"{k} {noise(v)}" for k, v in times.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=list(CASES))
    parser.add_argument("--threads", type=int, help="threads of both (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows, differences, spread = [], [], []
    with tempfile.TemporaryDirectory() as folder:
        for name in args.cases:
            row, difference, times = measure(name, Path(folder), args.rounds)
            rows.append(row)
            differences.append(difference)
            spread.append(f"{name}: {times}")
    print(
        ratio_table(
            f"ONNX in onnxruntime vs PyTorch eager, CPU, {torch.get_num_threads()} threads", "eager", rows
        )
    )
    for row, difference in zip(rows, differences, strict=True):
        print(f"{row.case:<40} max abs diff {difference:.3g} (target ≤ 1e-3)")
    print(f"best of {args.rounds}; noise: " + "; ".join(spread))


if __name__ == "__main__":
    main()
