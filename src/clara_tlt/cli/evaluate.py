"""`clara-tlt evaluate` (MMAR flags) and `tlt-evaluate` (TLT flags)."""

from __future__ import annotations

from typing import Any

from clara_tlt.cli.dialects import Stage, emit_once, mmar_workflow_command, tlt_inference_command
from clara_tlt.cli.infer import check_outputs
from clara_tlt.cli.main import SUMMARIES
from clara_tlt.cli.report import emit
from clara_tlt.config import ResolvedConfig
from clara_tlt.errors import UsageError


def run(config: ResolvedConfig, as_json: bool, shard: tuple[int, int] | None = None) -> None:
    """Score every case (of `shard`), write the reports, print the table (or `--json` the summary); exit 5 on
    failed cases. A Clara 4.x config runs on MONAI's evaluator."""
    from clara_tlt.cli.clara4 import is_clara4, run_clara4

    if is_clara4(config.data):
        run_clara4(config, stage="evaluate", dry=False, as_json=as_json, shard=shard)
        return
    from clara_tlt.engines.reports import table_lines
    from clara_tlt.engines.runner import raise_for_failures, run_config

    summary = run_config(config, score=True, shard=shard)
    if "empty_shard" in summary:
        emit_once(summary, as_json=as_json, lines=[summary["empty_shard"]])
        return
    lines = [
        f"Evaluated {summary['cases']} case(s) in {summary['seconds']} s with {summary['model']} "
        f"({summary['model_format']}).",
        *table_lines(summary),
        *(f"Wrote {path}" for path in summary["files"].values()),
    ]
    emit_once(summary, as_json=as_json, lines=lines)
    raise_for_failures(summary)


def merge(config: ResolvedConfig, as_json: bool, count: int) -> None:
    """`--merge-shards N`: the reports of one run from the N shards' results; exit 5 when some case failed."""
    from clara_tlt.cli.clara4 import EVALUATE_SHARD, is_clara4
    from clara_tlt.engines.reports import table_lines
    from clara_tlt.engines.runner import raise_for_failures
    from clara_tlt.engines.shards import merge_shards

    if is_clara4(config.data):
        raise UsageError(EVALUATE_SHARD)
    summary = merge_shards(config, count)
    lines = [
        f"Merged {count} shard(s): {summary['cases']} case(s) evaluated with {summary['model']}.",
        *table_lines(summary),
        *(f"Wrote {path}" for path in summary["files"].values()),
    ]
    emit(summary, as_json=as_json, lines=lines)
    raise_for_failures(summary)


def check_scored_outputs(config: ResolvedConfig, workflow: Any) -> None:
    """evaluate's `--dry-run`: infer's checks, and that every metric reads something computed (exit 3)."""
    check_outputs(config, workflow, score=True)


STAGE = Stage(run=run, preflight=check_scored_outputs, merge=merge)
mmar_command = mmar_workflow_command("evaluate", STAGE, summary=SUMMARIES["evaluate"])
tlt_command = tlt_inference_command(
    "tlt-evaluate",
    STAGE,
    summary="Evaluate a model against the ground truth of a datalist's validation list.",
)
