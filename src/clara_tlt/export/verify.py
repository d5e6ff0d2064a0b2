"""Verification: an artefact's outputs against PyTorch's on the same random inputs.

Errors are measured relative to the range of PyTorch's output (max − min), so softmax probabilities and
logits are held to the same standard. FP32 artefacts must agree to 1e-3 of that range. A TensorRT FP16
engine computes in half precision (about 3 significant digits per operation, compounded over a deep
network), so it is held to 2e-2 of the range: enough to catch a wrong graph, loose enough for rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from clara_tlt.export.protocol import Runner

TOLERANCE = {"FP32": 1e-3, "FP16": 2e-2}


@dataclass(frozen=True)
class Case:
    """One verification input `(N, …)` and PyTorch's output on it."""

    input: np.ndarray
    expected: np.ndarray


@dataclass(frozen=True)
class Check:
    """What one artefact gave on one case: shape checked and the errors measured."""

    input_shape: tuple[int, ...]
    max_abs: float
    max_rel: float
    passed: bool

    def as_dict(self) -> dict[str, object]:
        return {
            "input_shape": list(self.input_shape),
            "max_abs": self.max_abs,
            "max_rel": self.max_rel,
            "passed": self.passed,
        }


def reference_cases(network: nn.Module, shapes: list[tuple[int, ...]], *, seed: int = 0) -> list[Case]:
    """Random inputs in [0, 1) of `shapes` and the network's outputs on them."""
    generator = torch.Generator().manual_seed(seed)
    cases = []
    with torch.no_grad():
        for shape in shapes:
            x = torch.rand(shape, generator=generator)
            cases.append(Case(input=x.numpy(), expected=network(x).numpy()))
    return cases


def check(runner: Runner, case: Case, *, tolerance: float) -> Check:
    """Run `case` through `runner`; a wrong output shape fails with infinite errors."""
    got = runner(case.input)
    shape = tuple(case.input.shape)
    if got.shape != case.expected.shape:
        return Check(input_shape=shape, max_abs=float("inf"), max_rel=float("inf"), passed=False)
    max_abs = float(np.max(np.abs(got.astype(np.float64) - case.expected)))
    spread = float(np.ptp(case.expected))
    scale = spread if spread > 0 else max(float(np.max(np.abs(case.expected))), 1.0)
    max_rel = max_abs / scale
    return Check(input_shape=shape, max_abs=max_abs, max_rel=max_rel, passed=max_rel <= tolerance)
