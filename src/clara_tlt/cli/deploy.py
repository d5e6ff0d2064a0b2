"""`clara-tlt deploy`: the Clara Deploy base inference operator or an AIAA model config over volumes.

`--config config_inference.json`: every volume in `--input` → `--output/<name>.mhd`, published when
`--publish` is a folder. `--config config_aiaa.json --model_save_path MODEL`: the AIAA model over
`--data_file DATALIST` or `--input DIR`, written to `--output`. Folders default to the operator's
`/input`, `/output`, `/publish`, `/logs` (the last two only when they exist) or `CLARA_DEPLOY_*` variables.
`--output-format dicom-seg`: each DICOM series case's labels as a DICOM SEG in its source study.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import click

from clara_tlt.cli.options import F, debug_option, json_option, output_format, output_format_option
from clara_tlt.cli.report import emit
from clara_tlt.errors import UsageError


def _optional_folder(given: str | None, default: str) -> str | None:
    """An explicit folder is used (and made); the operator's default only when it exists."""
    if given is not None:
        return given
    return default if Path(default).is_dir() else None


def _folder_option(short: str, name: str, *aliases: str, help: str) -> Callable[[F], F]:
    """`SHORT/--NAME` (dest `NAME_dir`): an operator folder, env `CLARA_DEPLOY_NAME`, default `/NAME`."""
    return click.option(
        short,
        f"--{name}",
        *aliases,
        f"{name}_dir",
        envvar=f"CLARA_DEPLOY_{name.upper()}",
        default=f"/{name}",
        show_default=True,
        help=help,
    )


def _optional_folder_option(name: str, what: str) -> Callable[[F], F]:
    """`--NAME` (dest `NAME_dir`, env `CLARA_DEPLOY_NAME`): an operator folder used only when given or present."""
    return click.option(
        f"--{name}",
        f"{name}_dir",
        envvar=f"CLARA_DEPLOY_{name.upper()}",
        default=None,
        help=f"Folder for {what} [default: /{name} when it exists].",
    )


def _file_option(*names: str, help: str, required: bool = False) -> Callable[[F], F]:
    """An input file that must exist (click refuses a missing one, or a folder, as a usage error)."""
    return click.option(*names, required=required, type=click.Path(exists=True, dir_okay=False), help=help)


@click.command("deploy", help=__doc__)
@_file_option("-c", "--config", required=True, help="config_inference.json or config_aiaa.json.")
@_folder_option("-i", "input", help="Folder of NIfTI/MetaImage volumes and DICOM series subfolders.")
@_folder_option("-o", "output", "--output_path", help="Folder for the segmentations.")
@_optional_folder_option("publish", "the Render Server")
@_optional_folder_option("logs", "the log file")
@click.option("--model_save_path", default=None, help="AIAA configs: the model file (.pt, .ts, .onnx).")
@_file_option("--data_file", help="AIAA configs: a datalist instead of --input.")
@click.option(
    "--data_list_key", default="validation", show_default=True, help="The list of --data_file to run."
)
@_file_option(
    "--points", "points_file", help="Annotation models: JSON list of [i, j, k] voxels, or {file name: list}."
)
@output_format_option
@json_option
@debug_option
def command(
    config: str,
    input_dir: str,
    output_dir: str,
    publish_dir: str | None,
    logs_dir: str | None,
    model_save_path: str | None,
    data_file: str | None,
    data_list_key: str,
    points_file: str | None,
    as_json: bool,
) -> None:
    from clara_tlt.aiaa.model_config import is_aiaa_config
    from clara_tlt.config import read_json
    from clara_tlt.engines.runner import raise_for_failures
    from clara_tlt.io.outputs import check_output_folder

    publish_dir, logs_dir = _optional_folder(publish_dir, "/publish"), _optional_folder(logs_dir, "/logs")
    for flag, folder in (
        ("-o/--output (CLARA_DEPLOY_OUTPUT)", output_dir),
        ("--publish (CLARA_DEPLOY_PUBLISH)", publish_dir),
        ("--logs (CLARA_DEPLOY_LOGS)", logs_dir),
    ):
        if folder is not None:
            check_output_folder(folder, flag=flag)
    raw = read_json(Path(config))
    if isinstance(raw, dict) and is_aiaa_config(raw):
        from clara_tlt.aiaa.run import run_aiaa, volumes_in
        from clara_tlt.data.datalist import load_datalist

        entries = load_datalist(data_file, data_list_key) if data_file else volumes_in(input_dir)
        points = json.loads(Path(points_file).read_text()) if points_file else None
        summary = run_aiaa(
            config,
            model_path=model_save_path,
            entries=entries,
            output_dir=output_dir,
            points=points,
            output_format=output_format(),
        )
    else:
        from clara_tlt.aiaa.operator import run_operator

        if data_file or model_save_path or points_file:
            raise UsageError(
                "--data_file, --model_save_path and --points are for AIAA configs (config_aiaa.json)"
            )
        summary = run_operator(
            config,
            input_dir=input_dir,
            output_dir=output_dir,
            publish_dir=publish_dir,
            logs_dir=logs_dir,
            output_format=output_format(),
        )
    line = f"Segmented {summary['cases']} volume(s) in {summary['seconds']} s; outputs in {summary['output_path']}."
    emit(summary, as_json=as_json, lines=[line])
    raise_for_failures(summary)
