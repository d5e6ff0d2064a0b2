"""The commands' Clara 4.x path: a config recognised by its structure runs on MONAI's engines (engines/clara4).

train, evaluate and infer call these where they load the config; the 3.x path stays as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from clara_tlt.cli.dialects import emit_once
from clara_tlt.cli.report import emit
from clara_tlt.config import ResolvedConfig
from clara_tlt.config.clara4 import is_clara4
from clara_tlt.errors import UsageError

if TYPE_CHECKING:
    from clara_tlt.engines.preflight import RunChecks

__all__ = ["is_clara4", "run_clara4", "train_clara4"]

# What a 4.x evaluate's --shard / --merge-shards says: MetricsSaver keeps no per-case values of a metric without
# `metric_details` (ignite's Accuracy), so the whole run's metrics.csv cannot be rebuilt from shards.
EVALUATE_SHARD = (
    "a Clara 4.x evaluate runs whole: MetricsSaver's metrics.csv cannot be merged from shards (a metric "
    "without metric_details keeps no per-case values); run evaluate without --shard/--merge-shards. "
    "`infer --shard I/N` splits a 4.x inference config's cases (docs/scale-out.md)"
)


def train_clara4(config: ResolvedConfig, checks: RunChecks, *, dry: bool, as_json: bool) -> None:
    """`train` / `tlt-train` on a 4.x training config, in the model folder `checks` name."""
    from clara_tlt.cli.train import summary_lines
    from clara_tlt.engines.clara4.run import train

    result = train(config, checks, dry=dry)
    if dry:
        emit(result, as_json=as_json, lines=_plan_lines(result))
        return
    emit_once(result, as_json=as_json, lines=summary_lines(result))


def run_clara4(
    config: ResolvedConfig, *, stage: str, dry: bool, as_json: bool, shard: tuple[int, int] | None = None
) -> None:
    """`evaluate` / `infer` (both dialects) on a 4.x validation or inference config: MONAI's evaluator runs it,
    its handlers (MetricsSaver) and post transforms (SaveImaged) write the outputs; `shard` (infer's `--shard
    I/N`) runs shard I of N of its cases (evaluate's is refused: EVALUATE_SHARD)."""
    from clara_tlt.engines.clara4.run import evaluate

    if shard is not None and stage == "evaluate":
        raise UsageError(EVALUATE_SHARD)
    result = evaluate(config, dry=dry, shard=shard)
    if dry:
        emit(result, as_json=as_json, lines=_plan_lines(result))
        return
    if "empty_shard" in result:
        emit_once(result, as_json=as_json, lines=[result["empty_shard"]])
        return
    verb = "Evaluated" if stage == "evaluate" else "Inferred"
    lines = [
        f"{verb} {result['cases']} case(s) in {result['seconds']} s (Clara 4.x config, MONAI evaluator)."
    ]
    lines += [
        f"  {name}: {value:.4f}" for name, value in result["metrics"].items() if isinstance(value, float)
    ]
    if result["output_path"]:
        lines.append(f"Outputs in {Path(result['output_path'])}")
    emit_once(result, as_json=as_json, lines=lines)


def _plan_lines(plan: dict[str, Any]) -> list[str]:
    lines = [f"Dry run of {plan['config']} (Clara 4.x): built {len(plan['components'])} component(s):"]
    lines += [f"  {name}" for name in plan["components"]]
    lines += [f"{key}: {value}" for key, value in plan.items() if key not in ("config", "components")]
    return [*lines, "Nothing was trained or written."]
