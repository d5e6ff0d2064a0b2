"""`clara-tlt infer` (MMAR flags) and `tlt-infer` (TLT flags)."""

from __future__ import annotations

import click

from clara_tlt.cli.dialects import dispatch, load_mmar, load_tlt
from clara_tlt.cli.options import SetCommand, common_options, mmar_options, tlt_inference_options


@click.command("infer", cls=SetCommand)
@mmar_options
@common_options
def mmar_command(
    mmar: str, config: str, environment: str | None, set_items: tuple[str, ...], dry_run: bool, as_json: bool
) -> None:
    """Run inference with an MMAR's config (DATASET_JSON, DATA_LIST_KEY from its environment)."""
    resolved = load_mmar(mmar, config, environment, set_items)
    dispatch(resolved, dry=dry_run, as_json=as_json, default_data_list_key="validation", stage="inference")


@click.command("tlt-infer", cls=SetCommand)
@tlt_inference_options
@common_options
def tlt_command(
    model_save_path: str,
    config: str,
    model_format: str,
    file_root: str | None,
    output_path: str,
    data_file: str,
    setup: str,
    set_items: tuple[str, ...],
    dry_run: bool,
    as_json: bool,
) -> None:
    """Run inference on the validation list of a datalist."""
    variables = {
        "DATASET_JSON": data_file,
        "DATA_ROOT": file_root,
        "MMAR_EVAL_OUTPUT_PATH": output_path,
        "MODEL_FILE_PATH": model_save_path,
        "MODEL_FORMAT": model_format,
    }
    resolved = load_tlt(config, variables, set_items)
    dispatch(resolved, dry=dry_run, as_json=as_json, default_data_list_key="validation", stage="inference")
