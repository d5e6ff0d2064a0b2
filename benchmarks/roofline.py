"""What a network's forward (or training step) costs against what this machine can do: the measuring half of
benchmarks/forward_limit.py.

- `ceilings()`: the machine's fp32 compute ceiling (GFLOP/s of a large matmul, the densest fp32 work torch
  runs) and its memory bandwidth (GB/s of a large copy), measured with the threads torch uses.
- `traffic(run)`: per aten op of one run, the FLOPs (torch.utils.flop_counter's formulas, which
  FlopCounterMode sums) and the bytes of the tensors it reads and writes; from them the arithmetic intensity
  of the convolutions and the roofline floor: the time no op-by-op runtime can beat, Σ over ops of
  max(FLOPs ÷ compute ceiling, bytes ÷ bandwidth).
- `runtimes(network, example, ...)`: best-of timings of the forward in torch eager (`inference_mode`) and in
  onnxruntime with several session options, and each one's largest difference from eager.
"""

from __future__ import annotations

import copy
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
from harness import best_of

# TorchDispatchMode is torch's documented way to see every aten op (docs: "Extending torch with a Python
# mode"); its module is underscored, but the class is the extension point FlopCounterMode itself is built on.
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode, flop_registry

from clara_tlt.export.onnx import OnnxExporter
from clara_tlt.export.options import TensorNames

CONVOLUTION = "aten.convolution"
OPT_IN = "opt-in, not offered today"  # a runtime no command runs today: shown, left out of the bounds


@dataclass(frozen=True)
class Ceilings:
    """The machine's fp32 compute ceiling and memory bandwidth, as measured."""

    gflops: float  # large fp32 matmul, GFLOP/s
    gbytes: float  # large copy (read + write), GB/s

    @property
    def balance(self) -> float:
        """FLOPs per byte at which an op turns from memory-bound to compute-bound (the roofline's ridge)."""
        return self.gflops / self.gbytes


def ceilings(size: int = 4096, megabytes: int = 512, repeats: int = 3) -> Ceilings:
    """Best of `repeats` of a `size`² fp32 matmul and of a `megabytes` MB tensor copy."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    source = torch.empty(megabytes * 2**20 // 4)
    target = torch.empty_like(source)
    matmul = min(_seconds(lambda: torch.mm(a, b)) for _ in range(repeats + 1))
    copy = min(_seconds(lambda: target.copy_(source)) for _ in range(repeats + 1))
    return Ceilings(2 * size**3 / matmul / 1e9, 2 * source.nbytes / copy / 1e9)


def _seconds(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


class _OpTraffic(TorchDispatchMode):
    """Records (op, FLOPs, bytes read and written) of every aten op run inside it; views move no data."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[tuple[str, int, int]] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if not func.is_view:
            formula = flop_registry.get(func.overloadpacket)
            flops = formula(*args, **kwargs, out_val=out) if formula else 0
            moved = sum(t.nbytes for t in _tensors((args, kwargs, out)))
            self.ops.append((str(func.overloadpacket), int(flops), moved))
        return out


def _tensors(value: Any) -> Iterator[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _tensors(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)


@dataclass
class Traffic:
    """FLOPs and bytes of one run, per op; `flops` is FlopCounterMode's total of the same run."""

    flops: int
    ops: list[tuple[str, int, int]] = field(repr=False)

    @property
    def bytes(self) -> int:
        return sum(moved for _, _, moved in self.ops)

    def intensity(self) -> tuple[float, float, float]:
        """FLOPs per byte of the convolutions: all of them together, the lowest and the highest op."""
        convs = [(f, b) for name, f, b in self.ops if name == CONVOLUTION and b]
        if not convs:
            return (0.0, 0.0, 0.0)
        each = [f / b for f, b in convs]
        return sum(f for f, _ in convs) / sum(b for _, b in convs), min(each), max(each)

    def floor_s(self, limits: Ceilings) -> float:
        """The roofline floor: Σ over ops of max(FLOPs ÷ compute ceiling, bytes ÷ bandwidth)."""
        return sum(max(f / (limits.gflops * 1e9), b / (limits.gbytes * 1e9)) for _, f, b in self.ops)

    def compute_floor_s(self, limits: Ceilings) -> float:
        """Every FLOP at the compute ceiling, no byte costing anything: no fp32 runtime goes below this."""
        return self.flops / (limits.gflops * 1e9)


def traffic(run: Callable[[], object]) -> Traffic:
    """Count one call of `run` (a forward under no_grad, or a training step) op by op."""
    counter = FlopCounterMode(display=False)
    with counter:
        run()
    recorder = _OpTraffic()
    with recorder:
        run()
    return Traffic(counter.get_total_flops(), recorder.ops)


def onnx_file(network: torch.nn.Module, example: torch.Tensor, folder: Path) -> Path:
    """`network` exported as clara_tlt's export writes it (opset 17, dynamic batch) to `folder/model.onnx`."""
    path = folder / "model.onnx"
    OnnxExporter(TensorNames(), input_axes={0: "batch"}, output_axes={0: "batch"}).export(
        network, example, path
    )
    return path


def session_variants(threads: int) -> dict[str, ort.SessionOptions]:
    """onnxruntime's default options (what formats/onnx.py uses) and the variants worth trying on a CPU."""
    variants = {"onnxruntime, default options (formats/onnx.py)": ort.SessionOptions()}
    for mode, spinning in (("sequential", True), ("parallel", True), ("sequential", False)):
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        options.execution_mode = getattr(ort.ExecutionMode, f"ORT_{mode.upper()}")
        if not spinning:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        name = f"onnxruntime, ENABLE_ALL, {threads} intra-op threads, {mode}"
        variants[name + ("" if spinning else ", no spin-wait")] = options
    return variants


def runtimes(
    network: torch.nn.Module, example: torch.Tensor, rounds: int
) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Seconds per round (harness.best_of) of one forward of `example` in eager (also channels-last, which
    changes last bits and no command offers) and in each onnxruntime variant, and each one's largest absolute
    difference from eager."""
    x = example.numpy()

    def eager() -> np.ndarray:
        with torch.inference_mode():
            return network(example).numpy()

    contenders: dict[str, Callable[[], np.ndarray]] = {"torch eager, inference_mode": eager}
    if example.ndim == 5:
        contenders[f"torch eager, channels_last_3d ({OPT_IN})"] = _channels_last(network, example)
    with tempfile.TemporaryDirectory() as folder:
        path = onnx_file(network, example, Path(folder))
        for name, options in session_variants(torch.get_num_threads()).items():
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            contenders[name] = partial(_run_session, session, x)
    reference = eager()
    differences = {name: float(np.abs(run() - reference).max()) for name, run in contenders.items()}
    return best_of(contenders, rounds, warmup=True), differences


@dataclass(frozen=True)
class Bound:
    """One target's ratio now and the bound on it: from the fastest runtime measured and from the machine's
    ceilings. A time ratio (ours ÷ peer) is bounded below; a throughput ratio (`higher`) above."""

    measure: str
    now: float | None  # None: the benchmark named in `basis` measures it
    measured: float
    ceiling: float
    target: float
    basis: str
    higher: bool = False

    def reachable(self, bound: float) -> bool:
        return bound >= self.target if self.higher else bound <= self.target


def print_bounds(bounds: list[Bound]) -> None:
    """The per-target table: the ratio now, its bounds, the target and whether the target lies within them."""
    print(
        "\nbounds on each target's ratio (time ratios: lowest possible; throughput ratios: highest possible)"
    )
    header = f"{'measure':<48} {'now':>6} {'bound: fastest runtime':>23} {'bound: ceiling':>15} {'target':>8}"
    print(header + "  reachable here")
    for b in bounds:
        now = "—" if b.now is None else f"{b.now:.2f}"
        if b.reachable(b.measured):
            verdict = "yes, by this bound"
        elif b.reachable(b.ceiling):
            verdict = "not with the runtimes measured; only nearer the machine's ceiling"
        else:
            verdict = "no: beyond the machine's ceiling"
        target = f"{'≥' if b.higher else '≤'} {b.target}"
        print(f"{b.measure:<48} {now:>6} {b.measured:>23.2f} {b.ceiling:>15.2f} {target:>8}  {verdict}")
        print(f"{'':<48}   ({b.basis})")


def _channels_last(network: torch.nn.Module, example: torch.Tensor) -> Callable[[], np.ndarray]:
    """A forward of a channels-last copy of `network` on a channels-last copy of `example` (5-D)."""
    copied = copy.deepcopy(network)
    copied.to(memory_format=torch.channels_last_3d)  # type: ignore[call-overload]  # torch's stub lacks it
    example_last = example.to(memory_format=torch.channels_last_3d)

    def forward() -> np.ndarray:
        with torch.inference_mode():
            return copied(example_last).contiguous().numpy()

    return forward


def _run_session(session: ort.InferenceSession, x: np.ndarray) -> np.ndarray:
    return session.run(None, {session.get_inputs()[0].name: x})[0]
