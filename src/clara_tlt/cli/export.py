"""`clara-tlt export` (MMAR: `-m MMAR [-c CONFIG]`) and `tlt-export` (seed 003 ch. 7's flags).

Both call `clara_tlt.export.export_model` and print its summary; TensorFlow-only flags are accepted so
existing scripts keep working, and say they have no effect.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from clara_tlt.cli.main import SUMMARIES
from clara_tlt.cli.options import (
    CaseInsensitiveChoice,
    F,
    debug_option,
    environment_option,
    json_option,
    mmar_root_option,
    set_option,
)
from clara_tlt.cli.report import emit
from clara_tlt.errors import ConfigError
from clara_tlt.export.options import PRECISIONS, TRITON_PLATFORMS
from clara_tlt.formats.suffixes import TF_SUFFIXES

if TYPE_CHECKING:
    from clara_tlt.config.loader import ResolvedConfig

VALIDATION_CONFIG = "config/config_validation.json"
BUNDLE_HELP = "Write a MONAI bundle (Model Zoo layout) here instead of TorchScript/ONNX/TensorRT."
UNSAFE = "--skip_verify: the bundle was NOT run under MONAI nor compared with clara-tlt infer"


def _source_options() -> list[Callable[[F], F]]:
    """Which checkpoint to export and the names of its tensors (seed 003 ch. 7)."""
    return [
        click.option(
            "--model_file_format",
            type=CaseInsensitiveChoice(["CKPT", "PT"]),
            default="CKPT",
            show_default=True,
            help="Source format: the PyTorch checkpoint written by train (CKPT is Clara's name for it).",
        ),
        click.option(
            "--model_name", default="model", show_default=True, help="Base name: model, model_final."
        ),
        click.option(
            "--input_node_names", default="NV_MODEL_INPUT", show_default=True, help="Input tensor name."
        ),
        click.option(
            "--output_node_names", default="NV_MODEL_OUTPUT", show_default=True, help="Output tensor name."
        ),
        click.option("--checkpoint_ext", default=".pt", show_default=True, help="Suffix of the checkpoint."),
    ]


def _tensorflow_options() -> list[Callable[[F], F]]:
    """TensorFlow-only suffixes, accepted so that old scripts run; they change nothing."""
    return [
        click.option("--meta_file_ext", help="TensorFlow only; no effect."),
        click.option(
            "--regular_frozen_file_ext", help="TensorFlow only; no effect (TorchScript is NAME.ts)."
        ),
        click.option("--trt_file_ext", help="TensorFlow only; no effect (the engine is NAME.trt)."),
    ]


def _engine_options() -> list[Callable[[F], F]]:
    """The TensorRT engine: precision, dynamic sizes, batch limit, whether it is required."""
    return [
        click.option(
            "--trt_precision_mode",
            type=CaseInsensitiveChoice(PRECISIONS),
            default="FP32",
            show_default=True,
            help="Precision of the TensorRT engine.",
        ),
        click.option(
            "--trt_dynamic_mode", is_flag=True, help="Dynamic spatial sizes (the ROI up to twice it)."
        ),
        click.option(
            "--max_batch_size",
            type=click.IntRange(min=1),
            default=5,
            show_default=True,
            help="Largest batch.",
        ),
        click.option(
            "--trt_min_seg_size", type=int, help="TensorFlow-TRT only; no effect on an ONNX-built engine."
        ),
        click.option("--require_trt", is_flag=True, help="Fail (exit 1) where TensorRT or a GPU is missing."),
    ]


def _output_options() -> list[Callable[[F], F]]:
    """Verification and the Triton model repository."""
    return [
        click.option(
            "--skip_verify", is_flag=True, help="UNSAFE: do not compare the artefacts with PyTorch."
        ),
        click.option(
            "--triton_repo",
            type=click.Path(file_okay=False),
            help="Also write a Triton model repository here.",
        ),
        click.option(
            "--triton_platform",
            type=click.Choice(TRITON_PLATFORMS),
            default="onnxruntime_onnx",
            show_default=True,
            help="Which artefact Triton serves.",
        ),
    ]


def _export_options(f: F) -> F:
    """Seed 003 ch. 7's flags plus the Triton repository, --require_trt and --skip_verify."""
    options = [*_source_options(), *_tensorflow_options(), *_engine_options(), *_output_options()]
    for option in reversed(options):
        f = option(f)
    return json_option(debug_option(f))


@click.command("export", help=SUMMARIES["export"])
@mmar_root_option
@click.option(
    "-c",
    "--config",
    type=click.Path(dir_okay=False),
    help="Training config naming the network (else the checkpoint's).",
)
@environment_option
@click.option(
    "--model_file_path",
    type=click.Path(file_okay=False),
    help="Folder of the checkpoint, relative to the MMAR [MMAR/models].",
)
@set_option
@click.option("--bundle", type=click.Path(file_okay=False), help=BUNDLE_HELP)
@click.option(
    "--inference-config",
    type=click.Path(dir_okay=False),
    help="With --bundle: the config to translate [MMAR/config/config_validation.json; a Clara 4.x MMAR's "
    "config_inference.json].",
)
@_export_options
def mmar_command(
    mmar: str,
    config: str | None,
    environment: str | None,
    model_file_path: str | None,
    set_items: tuple[str, ...],
    bundle: str | None,
    inference_config: str | None,
    **options: Any,
) -> None:
    from clara_tlt.cli.dialects import load_mmar
    from clara_tlt.config.loader import locate_config
    from clara_tlt.config.mmar import code_folders

    resolved = load_mmar(mmar, config, environment, set_items) if config else None
    root = Path(mmar)
    folder = locate_config(model_file_path, root) if model_file_path else root / "models"
    if bundle:
        from clara_tlt.export.bundle_clara4 import default_config

        # only so that the config resolves: the bundle reads and writes its own folders
        unused = {"DATASET_JSON": "", "MMAR_EVAL_OUTPUT_PATH": str(Path(bundle).resolve() / "eval")}
        # a Clara 4.x MMAR's default is its inference config (bundle_clara4.default_config)
        chosen = inference_config or default_config(root) or VALIDATION_CONFIG
        inference = load_mmar(mmar, chosen, environment, set_items, unused)
        run_bundle(
            folder,
            inference,
            Path(bundle),
            network_config=_network_config(resolved) if resolved else None,
            **options,
        )
        return
    if inference_config:
        raise click.UsageError("--inference-config names the config of a --bundle; give --bundle DIR too")
    run_export(
        folder,
        config=_network_config(resolved) if resolved else None,
        search_dirs=code_folders(root),
        **options,
    )


def _network_config(resolved: ResolvedConfig) -> ResolvedConfig:
    """The config export reads the network from; a Clara 4.x one with its MONAI 0.x names updated."""
    from clara_tlt.cli.clara4 import is_clara4

    if not is_clara4(resolved.data):
        return resolved
    from clara_tlt.engines.clara4.build import plain_conf

    return dataclasses.replace(resolved, data=plain_conf(resolved.data))


@click.command("tlt-export")
@click.option(
    "--model_file_path", required=True, type=click.Path(file_okay=False), help="Folder of the checkpoint."
)
@click.option("--bundle", type=click.Path(file_okay=False), help=BUNDLE_HELP)
@click.option(
    "--inference_config",
    type=click.Path(dir_okay=False),
    help="With --bundle (required there): the validation config to translate.",
)
@_export_options
def tlt_command(
    model_file_path: str, bundle: str | None, inference_config: str | None, **options: Any
) -> None:
    """Export a trained model to TorchScript, ONNX, TensorRT and a Triton model repository, or a MONAI bundle."""
    if bundle is None:
        if inference_config:
            raise click.UsageError("--inference_config names the config of a --bundle; give --bundle DIR too")
        run_export(Path(model_file_path), config=None, search_dirs=(), **options)
        return
    if not inference_config:
        raise click.UsageError(
            "--bundle needs --inference_config FILE in tlt-export (there is no MMAR to find "
            f"{VALIDATION_CONFIG} in); e.g. --inference_config config/config_validation.json"
        )
    from clara_tlt.config import load_config

    folder = Path(model_file_path)
    variables = {  # what tlt-infer's flags set; unused: the bundle has its own data, model and output folders
        "MMAR_CKPT_DIR": str(folder.resolve()),
        "MMAR_EVAL_OUTPUT_PATH": str(Path(bundle).resolve() / "eval"),
        "DATASET_JSON": "",
        "DATA_ROOT": "",
    }
    run_bundle(
        folder,
        load_config(inference_config, variables=variables),
        Path(bundle),
        network_config=None,
        **options,
    )


def run_bundle(
    folder: Path, inference: Any, target: Path, *, network_config: ResolvedConfig | None, **flags: Any
) -> None:
    """Export the checkpoint in `folder` as a MONAI bundle at `target` predicting as `inference` does."""
    from clara_tlt.engines.checkpoint import config_network
    from clara_tlt.export.bundle import export_bundle
    from clara_tlt.io.outputs import check_output_folder

    check_output_folder(target, flag="--bundle")
    checkpoint = checkpoint_path(folder, flags["model_name"], flags["checkpoint_ext"])
    summary = export_bundle(
        checkpoint,
        inference,
        target,
        model_spec=config_network(network_config) if network_config else None,
        verify=not flags["skip_verify"],
    )
    emit(summary, as_json=flags["as_json"], lines=bundle_lines(summary))


def bundle_lines(summary: dict[str, Any]) -> list[str]:
    """The bundle, its network, each check's agreement, what was left out, and the command that runs it."""
    lines = [
        f"Bundle {summary['bundle']} from {summary['checkpoint']} ({summary['config']}): {summary['network']}"
    ]
    lines += [f"  {c['clara']} → {c['monai']}" for c in summary["components"]]
    lines += [
        f"  verified without clara_tlt: '{c['field']}' agrees with clara-tlt infer on {c['agreement']:.2%} of "
        f"{c['voxels']} voxels"
        for c in summary["checks"]
    ] or [f"  {UNSAFE}"]
    if summary["left_out"]:
        lines.append(f"Left out (scoring and model loading): {', '.join(summary['left_out'])}")
    root = summary["bundle"]
    lines.append(
        f"Run it: python -m monai.bundle run --config_file {root}/configs/inference.json --meta_file "
        f"{root}/configs/metadata.json --bundle_root {root} --dataset_dir IN --output_dir OUT"
    )
    return lines


def run_export(
    folder: Path, *, config: ResolvedConfig | None, search_dirs: tuple[Path, ...], **flags: Any
) -> None:
    """Find the checkpoint, export it, print the summary (with what the ignored flags did not do)."""
    from clara_tlt.export import ExportOptions, TensorNames, export_model
    from clara_tlt.io.outputs import check_output_folder

    check_output_folder(folder, flag="--model_file_path")  # the artefacts go beside the checkpoint
    if flags["triton_repo"]:
        check_output_folder(flags["triton_repo"], flag="--triton_repo")
    options = ExportOptions(
        names=TensorNames(input=flags["input_node_names"], output=flags["output_node_names"]),
        precision=flags["trt_precision_mode"].upper(),
        dynamic=flags["trt_dynamic_mode"],
        max_batch_size=flags["max_batch_size"],
        verify=not flags["skip_verify"],
        require_trt=flags["require_trt"],
        triton_repo=Path(flags["triton_repo"]) if flags["triton_repo"] else None,
        triton_platform=flags["triton_platform"],
    )
    summary = export_model(
        checkpoint_path(folder, flags["model_name"], flags["checkpoint_ext"]),
        options,
        config=config,
        search_dirs=search_dirs,
    )
    summary["notes"] = [
        f"--{flag} has no effect here ({why})"
        for flag, why in (
            (
                "trt_min_seg_size",
                "it tuned TensorFlow-TensorRT; the engine is built from the whole ONNX graph",
            ),
            ("meta_file_ext", "TensorFlow only"),
            ("regular_frozen_file_ext", "TensorFlow only; TorchScript is written as NAME.ts"),
            ("trt_file_ext", "TensorFlow only; the engine is written as NAME.trt"),
        )
        if flags[flag] is not None
    ]
    emit(summary, as_json=flags["as_json"], lines=summary_lines(summary))


def checkpoint_path(folder: Path, name: str, ext: str) -> Path:
    """`FOLDER/NAME.pt`; Clara's TensorFlow suffixes (`.ckpt`, …) in old scripts mean the PyTorch file."""
    suffix = ".pt" if ext.lower() in TF_SUFFIXES else ext
    path = folder / f"{name}{suffix}"
    if not path.is_file():
        found = sorted(p.name for p in folder.glob("*.pt")) if folder.is_dir() else []
        if not found:
            from clara_tlt.engines.model_loaders import no_trained_model

            raise no_trained_model(folder, [path])
        hint = f"; the folder holds {', '.join(found)}" if found else ""
        raise ConfigError(f"checkpoint '{path}' not found (--model_file_path, --model_name){hint}")
    return path


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """One line per artefact with its size and worst errors, then what was skipped and why."""
    lines = [f"Exported {summary['network']} from {summary['checkpoint']}, input {summary['input_shape']}:"]
    for artefact in summary["artefacts"]:
        checks = artefact["checks"]
        errors = (
            f"max abs {max(c['max_abs'] for c in checks):.2g}, max rel {max(c['max_rel'] for c in checks):.2g} "
            f"over {len(checks)} inputs (tolerance {artefact['tolerance']:g})"
            if checks
            else "NOT verified"
        )
        lines.append(f"  {artefact['path']}  {_size(artefact['bytes'])}  {errors}")
    triton = summary["triton"]
    if triton:
        lines.append(
            f"Triton repository {triton['repository']}: model '{triton['model']}' ({triton['platform']}); "
            f"serve with: tritonserver --model-repository {triton['repository']}"
        )
    lines += [f"Skipped {s['step']}: {s['reason']}" for s in summary["skipped"]]
    lines += [f"Note: {note}" for note in summary["notes"]]
    return lines


def _size(count: int) -> str:
    return f"{count / 1e6:.1f} MB" if count >= 1e6 else f"{count / 1e3:.0f} kB"
