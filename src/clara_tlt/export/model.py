"""`export_model`: a checkpoint → TorchScript, ONNX, a TensorRT engine where it can, a Triton repository.

Every artefact is written to a temporary file beside its target, loaded back and compared with PyTorch on
random inputs (`verify.py`); only when all pass are they renamed into place. A failed or interrupted export
leaves no file behind and the previous ones untouched.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from clara_tlt.atomic import atomic_path
from clara_tlt.config.loader import ResolvedConfig
from clara_tlt.engines.checkpoint import config_network, model_spec_of, network_from_checkpoint
from clara_tlt.errors import ClaraError
from clara_tlt.export.onnx import OPSET, OnnxExporter
from clara_tlt.export.options import ExportOptions
from clara_tlt.export.protocol import Exporter
from clara_tlt.export.shapes import ExportShape, dims_without_batch, dynamic_output_axes, export_shape
from clara_tlt.export.tensorrt import TensorRTExporter, tensorrt_missing
from clara_tlt.export.torchscript import TorchScriptExporter
from clara_tlt.export.triton import PLATFORM_FILES, TritonModel
from clara_tlt.export.verify import TOLERANCE, Case, check, reference_cases

log = logging.getLogger(__name__)

# Ways out for export: a checkpoint's network spec that is refused (in an MMAR, or a lone model file given
# to tlt-export, which has no config flag), and a config (-c) whose network does not fit the checkpoint.
MMAR_FIX = (
    "Give -c CONFIG, a config whose `model` section names the network, or put the module in the MMAR's "
    "custom/ folder"
)
LONE_FIX = (
    "A lone model file imports no code: export it from its MMAR with `clara-tlt export -m MMAR -c CONFIG "
    "--model_file_path FOLDER`, CONFIG naming the network in its `model` section"
)
CONFIG_FIX = "-c names another network than the one the checkpoint was trained as: leave out -c, the checkpoint knows its network"
UNSAFE = "--skip_verify: the artefacts were NOT compared with PyTorch (unsafe: a wrong export goes unnoticed)"


def export_model(
    checkpoint: str | Path,
    options: ExportOptions | None = None,
    *,
    config: ResolvedConfig | None = None,
    search_dirs: Sequence[Path] = (),
) -> dict[str, Any]:
    """Export `checkpoint` (a `model.pt`) beside itself as `NAME.ts`, `NAME.onnx` and, with TensorRT and a GPU,
    `NAME.trt`; returns the summary (artefacts, sizes, errors measured, what was skipped and why).

    The network and input size come from `config` (a resolved training config) when given, else from the
    checkpoint's `train_conf`. Example: `export_model("models/model.pt", ExportOptions(dynamic=True))`.
    """
    options = options or ExportOptions()
    checkpoint = Path(checkpoint)
    missing_trt = _tensorrt_missing(options)
    network, conf = _network(checkpoint, config, search_dirs)
    shape = export_shape(network, conf, dynamic=options.dynamic, max_batch_size=options.max_batch_size)
    cases = reference_cases(network, shape.check_shapes())
    output_axes = dynamic_output_axes([case.expected.shape for case in cases])
    skipped = [] if options.verify else [{"step": "verify", "reason": UNSAFE}]
    with contextlib.ExitStack() as stack:
        run = _Artefacts(checkpoint, network, shape, cases, verify=options.verify, stack=stack)
        skipped += _produce_all(run, options, output_axes=output_axes, missing_trt=missing_trt)
        triton = None
        if options.triton_repo is not None:
            output_dims = dims_without_batch(cases[0].expected.shape, output_axes)
            model = _triton_model(checkpoint.stem, options, shape, output_dims=output_dims)
            triton = _write_triton(model, options.triton_repo, run.written, stack)
    return {
        "checkpoint": str(checkpoint),
        "network": (model_spec_of(conf) or {}).get("name", type(network).__name__),
        "input_shape": [-1, *shape.input_dims()],
        "onnx_opset": OPSET,
        "precision": options.precision,
        "artefacts": run.summaries,
        "skipped": skipped,
        "triton": triton,
        "verified": options.verify,
    }


def _tensorrt_missing(options: ExportOptions) -> str | None:
    """Why no TensorRT engine can be built here (None: it can); a ClaraError where the options need one."""
    missing_trt = tensorrt_missing()
    wants_plan = options.triton_repo is not None and options.triton_platform == "tensorrt_plan"
    if missing_trt and (options.require_trt or wants_plan):
        needed = "--require_trt" if options.require_trt else "--triton_platform tensorrt_plan"
        raise ClaraError(f"{needed} needs a TensorRT engine, but {missing_trt}")
    return missing_trt


def _network(
    checkpoint: Path, config: ResolvedConfig | None, search_dirs: Sequence[Path]
) -> tuple[nn.Module, Mapping[str, Any]]:
    """The checkpoint's network, rebuilt from `config`'s network when given, and the config it was built by."""
    network, saved = network_from_checkpoint(
        checkpoint,
        model_spec=config_network(config) if config is not None else None,
        search_dirs=search_dirs,
        refusal_fix=MMAR_FIX if search_dirs else LONE_FIX,
        config_fix=CONFIG_FIX,
    )
    return network, config.data if config is not None else saved.get("train_conf") or {}


@dataclass
class _Artefacts:
    """The artefacts of one export, each written to a temporary file that `stack` renames into place."""

    checkpoint: Path
    network: nn.Module
    shape: ExportShape
    cases: list[Case]
    verify: bool
    stack: contextlib.ExitStack
    summaries: list[dict[str, Any]] = field(default_factory=list)
    written: dict[str, Path] = field(default_factory=dict)  # format name → its temporary file

    def produce(self, exporter: Exporter, tolerance: float) -> Path:
        """Export and verify one format; returns its temporary file."""
        target = self.checkpoint.with_suffix(exporter.suffix)
        temporary = self.stack.enter_context(atomic_path(target))
        log.info("Exporting %s …", target.name)
        exporter.export(self.network, self.shape.example(), temporary)
        self.summaries.append(
            _verified(
                exporter,
                temporary,
                target=target,
                cases=self.cases,
                tolerance=tolerance,
                verify=self.verify,
            )
        )
        self.written[exporter.name] = temporary
        return temporary


def _produce_all(
    run: _Artefacts, options: ExportOptions, *, output_axes: dict[int, str], missing_trt: str | None
) -> list[dict[str, str]]:
    """TorchScript, ONNX and, where it can be built, the TensorRT engine from the ONNX file; returns the
    steps skipped."""
    run.produce(TorchScriptExporter(), TOLERANCE["FP32"])
    onnx_file = run.produce(
        OnnxExporter(options.names, input_axes=run.shape.input_axes(), output_axes=output_axes),
        TOLERANCE["FP32"],
    )
    if missing_trt:
        return [{"step": "tensorrt", "reason": missing_trt}]
    trt = TensorRTExporter(
        onnx_path=onnx_file, shape=run.shape, names=options.names, fp16=options.precision == "FP16"
    )
    run.produce(trt, TOLERANCE[options.precision])
    return []


def _verified(
    exporter: Exporter,
    temporary: Path,
    *,
    target: Path,
    cases: list[Case],
    tolerance: float,
    verify: bool,
) -> dict[str, Any]:
    """Load the artefact back and compare it with PyTorch on every case; raise on the first one past
    `tolerance` (the caller's ExitStack then removes every file of this export)."""
    checks = []
    if verify:
        runner = exporter.load(temporary)
        for case in cases:
            result = check(runner, case, tolerance=tolerance)
            log.info(
                "  %s on %s: max abs %.3g, max rel %.3g",
                target.name,
                result.input_shape,
                result.max_abs,
                result.max_rel,
            )
            if not result.passed:
                raise ClaraError(
                    f"verification failed: {target.name} on an input of shape {result.input_shape} differs from "
                    f"PyTorch by {result.max_abs:.3g} (max abs), {result.max_rel:.3g} of the output's range "
                    f"(tolerance {tolerance:g}); nothing was written"
                )
            checks.append(result.as_dict())
    return {
        "format": exporter.name,
        "path": str(target),
        "bytes": temporary.stat().st_size,
        "tolerance": tolerance,
        "checks": checks,
    }


def _triton_model(
    name: str, options: ExportOptions, shape: ExportShape, *, output_dims: list[int]
) -> TritonModel:
    return TritonModel(
        name=name,
        platform=options.triton_platform,
        max_batch_size=options.max_batch_size,
        names=options.names,
        input_dims=shape.input_dims(),
        output_dims=output_dims,
    )


def _write_triton(
    model: TritonModel, repo: Path, written: dict[str, Path], stack: contextlib.ExitStack
) -> dict[str, Any]:
    """Copy the served artefact into `repo/NAME/1/` and write `config.pbtxt`, both renamed with the rest."""
    source = written[PLATFORM_FILES[model.platform][0]]
    with_model = stack.enter_context(atomic_path(model.model_file(repo)))
    shutil.copyfile(source, with_model)
    with_config = stack.enter_context(atomic_path(model.config_file(repo)))
    with_config.write_text(model.config_text(), encoding="utf-8")
    return {
        "repository": str(repo),
        "model": model.name,
        "platform": model.platform,
        "files": [str(model.model_file(repo)), str(model.config_file(repo))],
        "input": {"name": model.tensor_names().input, "dims": model.input_dims},
        "output": {"name": model.tensor_names().output, "dims": model.output_dims},
    }
