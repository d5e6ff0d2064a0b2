"""`clara-tlt export` and `tlt-export`: the TLT export flags; `-m` points them at an MMAR."""

from __future__ import annotations

import click

from clara_tlt.cli.dialects import engine_missing
from clara_tlt.cli.options import F, debug_option, json_option


def _export_options(f: F) -> F:
    """Seed 003 ch. 7's flags; TensorFlow-only ones are accepted so existing scripts keep working."""
    options = [
        click.option(
            "--model_file_format", default="CKPT", show_default=True, help="Format of the source model."
        ),
        click.option(
            "--model_file_path", required=True, type=click.Path(), help="Folder holding the model files."
        ),
        click.option(
            "--model_name", default="model", show_default=True, help="Base name of the model files."
        ),
        click.option(
            "--input_node_names", default="NV_MODEL_INPUT", show_default=True, help="Input tensor name."
        ),
        click.option(
            "--output_node_names", default="NV_MODEL_OUTPUT", show_default=True, help="Output tensor name."
        ),
        click.option("--checkpoint_ext", default=".pt", show_default=True),
        click.option("--meta_file_ext", default=".meta", show_default=True, help="TensorFlow only; ignored."),
        click.option(
            "--regular_frozen_file_ext", default=".ts", show_default=True, help="TorchScript file suffix."
        ),
        click.option("--trt_file_ext", default=".trt.engine", show_default=True),
        click.option(
            "--trt_precision_mode", type=click.Choice(["FP32", "FP16"]), default="FP32", show_default=True
        ),
        click.option("--trt_dynamic_mode", is_flag=True),
        click.option("--max_batch_size", type=int, default=5, show_default=True),
        click.option(
            "--trt_min_seg_size", type=int, default=3, show_default=True, help="TensorFlow-TRT only; ignored."
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return json_option(debug_option(f))


@click.command("export")
@click.option(
    "-m", "--mmar", type=click.Path(file_okay=False, exists=True), help="MMAR root; paths are relative to it."
)
@_export_options
def mmar_command(mmar: str | None, **options: object) -> None:
    """Export a trained model to TorchScript, ONNX, TensorRT and a Triton model repository."""
    raise engine_missing("export")


@click.command("tlt-export")
@_export_options
def tlt_command(**options: object) -> None:
    """Export a trained model to TorchScript, ONNX, TensorRT and a Triton model repository."""
    raise engine_missing("export")
