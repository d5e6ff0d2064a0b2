"""Turn either command-line dialect into a resolved config, and run `--dry-run` on it.

MMAR dialect (Clara 3.1): `-m MMAR_ROOT -c CONFIG -e ENVIRONMENT --set k=v`. TLT dialect (Clara Train SDK): flags
such as `-d DATALIST`, `--file_root DIR`, `-r OUTPUT` become the environment variables the config refers to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from clara_tlt.cli.options import (
    F,
    SetCommand,
    common_options,
    merge_shards_option,
    mmar_options,
    shard_option,
    tlt_inference_options,
    unchanged,
)
from clara_tlt.cli.report import emit, plan_lines
from clara_tlt.config import ResolvedConfig, load_config, parse_overrides
from clara_tlt.config.environment import is_path_variable


def load_mmar(
    mmar: str,
    config: str,
    environment: str | None,
    set_items: tuple[str, ...],
    variables: dict[str, Any] | None = None,
) -> ResolvedConfig:
    """Resolve a config of the MMAR at `mmar`; `environment` defaults to config/environment.json when present.

    `variables` (a command's own, e.g. infer's output folder) win over environment.json; `--set` wins over both.
    """
    root = Path(mmar)
    if environment is None and (root / "config" / "environment.json").is_file():
        environment = "config/environment.json"
    return load_config(
        config,
        environment_path=environment,
        mmar_root=root,
        overrides=parse_overrides(set_items),
        variables=variables,
    )


def load_tlt(config: str, variables: dict[str, Any], set_items: tuple[str, ...]) -> ResolvedConfig:
    """Resolve a TLT-style config; `variables` hold what the flags say (DATASET_JSON, DATA_ROOT, …)."""
    given = {
        k: str(Path(v).resolve()) if is_path_variable(k) else v for k, v in variables.items() if v is not None
    }
    return load_config(config, variables=given, overrides=parse_overrides(set_items))


Preflight = Callable[[ResolvedConfig, Any], object]  # a command's own checks on (config, built workflow)


def dry_run(
    config: ResolvedConfig,
    *,
    as_json: bool,
    default_data_list_key: str,
    preflight: Preflight | None = None,
    facts: dict[str, Any] | None = None,
) -> None:
    """Build every component and check every datalist file (and run the command's `preflight`, the checks its
    real run makes before any work), then print the plan (raises on the first problem); `facts`: what the
    command's own checks found (train: the model folder), added to the plan. A Clara 4.x validation or
    inference config is built and checked by its own path (cli/clara4.py)."""
    from clara_tlt.cli.clara4 import is_clara4, run_clara4

    if is_clara4(config.data):
        run_clara4(config, stage="check", dry=True, as_json=as_json)
        return
    from clara_tlt.engines.workflow import build_workflow

    workflow = build_workflow(config, default_data_list_key=default_data_list_key)
    if preflight is not None:
        preflight(config, workflow)
    plan = workflow.describe() | (facts or {})
    emit(plan, as_json=as_json, lines=plan_lines(plan))


Shard = tuple[int, int]  # `--shard I/N`: (I, N)
# (config, as_json, shard): a stage's engine and its report
Run = Callable[[ResolvedConfig, bool, Shard | None], None]
# (config, as_json, N): evaluate --merge-shards N
Merge = Callable[[ResolvedConfig, bool, int], None]


def emit_once(result: dict[str, Any], *, as_json: bool, lines: list[str]) -> None:
    """`emit` on rank 0 only: under torchrun every rank returns the summary, the one whose node holds the files
    prints it."""
    from clara_tlt.engines.distributed import is_main_rank  # after the engine ran: torch is loaded already

    if is_main_rank():
        emit(result, as_json=as_json, lines=lines)


@dataclass(frozen=True)
class Stage:
    """What a workflow command runs, the same in both dialects: the stage's engine and report (`run`), the
    datalist list it reads by default, the checks of its real run that `--dry-run` makes too (`preflight`) and
    what `--merge-shards N` runs (`merge`, evaluate's; without it the command has no such flag)."""

    run: Run
    preflight: Preflight | None = None
    merge: Merge | None = None
    default_data_list_key: str = "validation"


def dispatch(
    config: ResolvedConfig,
    stage: Stage,
    *,
    dry: bool,
    as_json: bool,
    shard: Shard | None = None,
    merge_shards: int | None = None,
) -> None:
    """Run `--dry-run`, the stage's engine (on `shard` of the cases when given), or its merge of N shards."""
    if dry:
        dry_run(
            config,
            as_json=as_json,
            default_data_list_key=stage.default_data_list_key,
            preflight=stage.preflight,
        )
        return
    if stage.merge is not None and merge_shards is not None:
        if shard is not None:
            raise click.UsageError("--merge-shards N merges what the --shard I/N runs wrote; give it alone")
        stage.merge(config, as_json, merge_shards)
        return
    stage.run(config, as_json, shard)


Resolve = Callable[..., ResolvedConfig]  # a dialect's flags (and `set_items`) → the resolved config


def stage_command(
    name: str, stage: Stage, *, summary: str, dialect: Callable[[F], F], resolve: Resolve
) -> click.Command:
    """`NAME` with the `dialect`'s flags (which `resolve` turns into the config), `--shard`, `--merge-shards`
    where the stage merges, and the common flags; it runs `stage` through `dispatch`."""

    @click.command(name, cls=SetCommand, help=summary)
    @dialect
    @shard_option
    @(merge_shards_option if stage.merge is not None else unchanged)
    @common_options
    def command(
        shard: Shard | None, dry_run: bool, as_json: bool, merge_shards: int | None = None, **flags: Any
    ) -> None:
        resolved = resolve(**flags)
        dispatch(resolved, stage, dry=dry_run, as_json=as_json, shard=shard, merge_shards=merge_shards)

    return command


def mmar_workflow_command(
    name: str, stage: Stage, *, summary: str, output_folder: str | None = None
) -> click.Command:
    """`clara-tlt NAME -m MMAR -c CONFIG [-e ENV] [--set …] [--dry-run] [--json]` for a workflow stage.

    `output_folder`: the MMAR subfolder the stage writes into, whatever environment.json's
    MMAR_EVAL_OUTPUT_PATH says (infer's `infer/`, so that it never replaces evaluate's `eval/`).
    """

    def resolve(
        mmar: str, config: str, environment: str | None, set_items: tuple[str, ...]
    ) -> ResolvedConfig:
        own = {"MMAR_EVAL_OUTPUT_PATH": str(Path(mmar).resolve() / output_folder)} if output_folder else None
        return load_mmar(mmar, config, environment, set_items, own)

    return stage_command(name, stage, summary=summary, dialect=mmar_options, resolve=resolve)


def tlt_inference_command(name: str, stage: Stage, *, summary: str) -> click.Command:
    """`tlt-infer` / `tlt-evaluate` with the Clara Train SDK's flags; they read the datalist's validation list."""

    def resolve(
        model_save_path: str,
        config: str,
        model_format: str,
        file_root: str | None,
        output_path: str,
        data_file: str,
        setup: str,
        set_items: tuple[str, ...],
    ) -> ResolvedConfig:
        variables = {
            "DATASET_JSON": data_file,
            "DATA_ROOT": file_root,
            "MMAR_EVAL_OUTPUT_PATH": output_path,
            "MODEL_FILE_PATH": model_save_path,
            "MMAR_CKPT_DIR": str(Path(model_save_path).parent),  # what an MMAR config's model_loader names
            "MODEL_FORMAT": model_format,
        }
        return load_tlt(config, variables, set_items)

    return stage_command(name, stage, summary=summary, dialect=tlt_inference_options, resolve=resolve)
