"""`clara-tlt train` (MMAR flags) and `tlt-train segmentation|classification` (TLT flags)."""

from __future__ import annotations

import click

from clara_tlt.cli.dialects import dispatch, load_tlt, mmar_workflow_command
from clara_tlt.cli.options import SetCommand, common_options

mmar_command = mmar_workflow_command(
    "train",
    stage="training",
    default_data_list_key="training",
    summary="Train a model from an MMAR's config_train.json.",
)


@click.command("tlt-train", cls=SetCommand)
@click.argument("task", type=click.Choice(["segmentation", "classification"]))
@click.option("-e", "--config", required=True, type=click.Path(dir_okay=False), help="Training config JSON.")
@click.option("-d", "--data_list", required=True, type=click.Path(dir_okay=False), help="datalist.json.")
@click.option(
    "-r",
    "--model_dir",
    required=True,
    type=click.Path(),
    help="Output folder: checkpoints, TensorBoard logs.",
)
@click.option("-c", "--checkpoint", type=click.Path(), help="Weights to start from (fine-tuning).")
@click.option(
    "--file_root", type=click.Path(file_okay=False), help="Folder the datalist's paths are relative to."
)
@common_options
def tlt_command(
    task: str,
    config: str,
    data_list: str,
    model_dir: str,
    checkpoint: str | None,
    file_root: str | None,
    set_items: tuple[str, ...],
    dry_run: bool,
    as_json: bool,
) -> None:
    """Train (or fine-tune with -c) a segmentation or classification model."""
    variables = {
        "DATASET_JSON": data_list,
        "DATA_ROOT": file_root,
        "MMAR_CKPT_DIR": model_dir,
        "MMAR_CKPT": checkpoint,
        "PROCESSING_TASK": task,
        "DATA_LIST_KEY": "training",
    }
    resolved = load_tlt(config, variables, set_items)
    dispatch(resolved, dry=dry_run, as_json=as_json, default_data_list_key="training", stage="training")
