"""ONNX: one file with the weights inside, opset 17 (onnxruntime ≥ 1.14 and TensorRT ≥ 8.6 both take it).

The exporter is torch's TorchScript-based one (`dynamo=False`), chosen by measurement on our networks with
torch 2.13: it exports UNet, SegAhnet (AHNet) and DenseNet121 with dynamic batch and spatial axes, where the
dynamo exporter failed on AHNet and DenseNet121 (torch.export guards) and needs onnxscript besides.
"""

from __future__ import annotations

from pathlib import Path

import onnx
import torch
from torch import nn

from clara_tlt.export.options import TensorNames
from clara_tlt.export.protocol import Runner, quiet, runner_of
from clara_tlt.formats.onnx import OnnxNetwork

OPSET = 17


class OnnxExporter:
    """`NAME.onnx` with tensors named `names`; `input_axes` / `output_axes` map dynamic axes to names."""

    name = "onnx"
    suffix = ".onnx"

    def __init__(
        self, names: TensorNames, *, input_axes: dict[int, str], output_axes: dict[int, str]
    ) -> None:
        self.names = names
        self.input_axes = input_axes
        self.output_axes = output_axes

    def export(self, network: nn.Module, example: torch.Tensor, path: Path) -> None:
        with quiet(), torch.no_grad():
            torch.onnx.export(
                network,
                (example,),
                str(path),
                dynamo=False,
                opset_version=OPSET,
                input_names=[self.names.input],
                output_names=[self.names.output],
                dynamic_axes={self.names.input: self.input_axes, self.names.output: self.output_axes},
            )
        model = onnx.load(str(path))
        if normalise_transposes(model):
            onnx.save(model, str(path))
        onnx.checker.check_model(str(path))

    def load(self, path: Path) -> Runner:
        """Run on the GPU where there is one (onnxruntime's CUDA provider), else on the CPU."""
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return runner_of(OnnxNetwork(path, device=device, quiet=True))


def normalise_transposes(model: onnx.ModelProto) -> bool:
    """Make negative `perm` entries of Transpose nodes positive; returns whether any changed.

    The TorchScript-based exporter writes `x.movedim(-1, 1)` as a Transpose with `perm` `[0, -1, 1, 2]`, which
    ONNX forbids and onnxruntime refuses. Our networks avoid it; a user's network (given by `path`) may not.
    `perm` always lists every axis, so its length is the rank.
    """
    changed = False
    for node in model.graph.node:
        if node.op_type != "Transpose":
            continue
        for attribute in node.attribute:
            if attribute.name == "perm" and any(axis < 0 for axis in attribute.ints):
                rank = len(attribute.ints)
                fixed = [axis % rank for axis in attribute.ints]
                del attribute.ints[:]
                attribute.ints.extend(fixed)
                changed = True
    return changed
