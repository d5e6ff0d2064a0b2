"""`clara-tlt infer` (MMAR flags) and `tlt-infer` (TLT flags)."""

from __future__ import annotations

from clara_tlt.cli.dialects import emit_once, mmar_workflow_command, tlt_inference_command
from clara_tlt.config import ResolvedConfig


def run(config: ResolvedConfig, as_json: bool) -> None:
    """Write the predictions of every case; exit 5 after the others when some case failed."""
    from clara_tlt.engines.predictor import raise_for_failures, run_config

    summary = run_config(config, score=False)
    line = (
        f"Inferred {summary['cases']} case(s) in {summary['seconds']} s with {summary['model']} "
        f"({summary['model_format']}); outputs in {summary['output_path']}."
    )
    emit_once(summary, as_json=as_json, lines=[line])
    raise_for_failures(summary)


mmar_command = mmar_workflow_command(
    "infer",
    run=run,
    default_data_list_key="validation",
    summary="Run inference with an MMAR's config on the DATA_LIST_KEY list of its datalist.",
)
tlt_command = tlt_inference_command(
    "tlt-infer", run=run, summary="Run inference on a datalist's validation list."
)
