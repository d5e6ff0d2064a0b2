"""`clara-tlt train` (MMAR flags) and `tlt-train segmentation|classification` (TLT flags)."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from clara_tlt.cli.dialects import dry_run, emit_once, load_mmar, load_tlt
from clara_tlt.cli.main import SUMMARIES
from clara_tlt.cli.options import F, SetCommand, common_options, file_root_option, mmar_options
from clara_tlt.config import ResolvedConfig

if TYPE_CHECKING:
    from clara_tlt.engines.preflight import RunChecks


def resume_options(f: F) -> F:
    """`--no-resume` and `-f/--force`: what to do with an earlier run in the model folder."""
    f = click.option(
        "-f", "--force", is_flag=True, help="With --no-resume: overwrite an earlier run in the model folder."
    )(f)
    return click.option(
        "--no-resume",
        is_flag=True,
        help="Start over instead of resuming from train_state.pt in the model folder.",
    )(f)


def rerun_hint(args: list[str], set_items: tuple[str, ...], **optional: str | None) -> str:
    """This run's command line (quoted) for the torchrun command a multi_gpu error prints: the flags given,
    the optional ones that were given (`c` → `-c`, `file_root` → `--file_root`) and every --set item."""
    flags = [(f"-{k}" if len(k) == 1 else f"--{k}", v) for k, v in optional.items() if v]
    words = [*args, *(w for pair in flags for w in pair), *(w for item in set_items for w in ("--set", item))]
    return shlex.join(words)


def run_training(config: ResolvedConfig, checks: RunChecks, *, dry: bool, as_json: bool) -> None:
    """`--dry-run` (the real run's preflight, then every component and datalist file), or train and print the
    summary (train_summary.json) as JSON or one line per fact. A Clara 4.x config runs on MONAI's engines."""
    from clara_tlt.cli.clara4 import is_clara4, train_clara4

    if is_clara4(config.data):
        train_clara4(config, checks, dry=dry, as_json=as_json)
        return
    if dry:
        from clara_tlt.engines.preflight import preflight

        with preflight(config, checks) as checked:
            dry_run(config, as_json=as_json, default_data_list_key="training", facts=checked.describe())
        return
    from clara_tlt.engines.training import train

    summary = train(config, checks)
    emit_once(summary, as_json=as_json, lines=summary_lines(summary))


def summary_lines(summary: dict[str, Any]) -> list[str]:
    best = summary["best_metric"]
    lines = [
        f"Trained {summary['epochs']} epoch(s), {summary['iterations']} iteration(s) in {summary['model_dir']}."
    ]
    if best is not None:
        lines.append(f"Best {summary['key_metric']}: {best:.4f} at epoch {summary['best_epoch']} (model.pt).")
    lines.append(
        f"{summary['iterations_per_s']} iterations/s; summary in {summary['files']['train_summary.json']}."
    )
    return lines


# A dialect's flags (and `set_items`) → the resolved config, the rerun hint, and the model folder it names.
Resolve = Callable[..., tuple[ResolvedConfig, str, str | None]]


def training_command(
    name: str, *, dialect: Callable[[F], F], resolve: Resolve, summary: str | None = None
) -> click.Command:
    """`NAME` with the `dialect`'s flags (which `resolve` turns into the config), `--no-resume`, `-f/--force`
    and the common flags; it runs `run_training`."""

    @click.command(name, cls=SetCommand, help=summary)
    @dialect
    @resume_options
    @common_options
    def command(no_resume: bool, force: bool, dry_run: bool, as_json: bool, **flags: Any) -> None:
        from clara_tlt.engines.preflight import RunChecks

        resolved, hint, model_dir = resolve(**flags)
        checks = RunChecks(model_dir=model_dir, resume=not no_resume, force=force, command_hint=hint)
        run_training(resolved, checks, dry=dry_run, as_json=as_json)

    return command


def _resolve_mmar(
    mmar: str, config: str, environment: str | None, set_items: tuple[str, ...]
) -> tuple[ResolvedConfig, str, None]:
    """`clara-tlt train`'s flags: the MMAR's config; the model folder is the config's (MMAR_CKPT_DIR)."""
    hint = rerun_hint(["-m", "clara_tlt", "train", "-m", mmar, "-c", config], set_items, e=environment)
    return load_mmar(mmar, config, environment, set_items), hint, None


def tlt_train_options(f: F) -> F:
    """`tlt-train TASK -e CONFIG -d DATALIST -r MODEL_DIR [-c CHECKPOINT] [--file_root DIR]`."""
    f = file_root_option(f)
    f = click.option("-c", "--checkpoint", type=click.Path(), help="Weights to start from (fine-tuning).")(f)
    f = click.option(
        "-r",
        "--model_dir",
        required=True,
        type=click.Path(),
        help="Output folder: checkpoints, TensorBoard logs.",
    )(f)
    f = click.option(
        "-d", "--data_list", required=True, type=click.Path(dir_okay=False), help="datalist.json."
    )(f)
    f = click.option(
        "-e", "--config", required=True, type=click.Path(dir_okay=False), help="Training config JSON."
    )(f)
    return click.argument("task", type=click.Choice(["segmentation", "classification"]))(f)


def _resolve_tlt(
    task: str,
    config: str,
    data_list: str,
    model_dir: str,
    checkpoint: str | None,
    file_root: str | None,
    set_items: tuple[str, ...],
) -> tuple[ResolvedConfig, str, str | None]:
    """`tlt-train`'s flags as the variables the config refers to; the model folder is -r (or a --set one)."""
    variables = {
        "DATASET_JSON": data_list,
        "DATA_ROOT": file_root or str(Path(data_list).parent),
        "MMAR_CKPT_DIR": model_dir,
        "MMAR_CKPT": checkpoint,
        "PROCESSING_TASK": task,
        "DATA_LIST_KEY": "training",
    }
    resolved = load_tlt(config, variables, set_items)
    words = [task, "-e", config, "-d", data_list, "-r", model_dir]
    hint = "$(which tlt-train) " + rerun_hint(words, set_items, c=checkpoint, file_root=file_root)
    return resolved, hint, resolved.variables.get("MMAR_CKPT_DIR")


mmar_command = training_command(
    "train", dialect=mmar_options, resolve=_resolve_mmar, summary=SUMMARIES["train"]
)
tlt_command = training_command(
    "tlt-train",
    dialect=tlt_train_options,
    resolve=_resolve_tlt,
    summary="Train (or fine-tune with -c) a segmentation or classification model.",
)
