"""`clara-tlt infer` (MMAR flags) and `tlt-infer` (TLT flags)."""

from __future__ import annotations

from typing import Any

from clara_tlt.cli.dialects import Stage, emit_once, mmar_workflow_command, tlt_inference_command
from clara_tlt.cli.main import SUMMARIES
from clara_tlt.cli.options import output_format, output_format_option
from clara_tlt.config import ResolvedConfig
from clara_tlt.errors import UsageError

INFER_FOLDER = "infer"  # MMAR dialect: infer's own folder beside evaluate's eval/ (docs/infer.md)


def run(config: ResolvedConfig, as_json: bool, shard: tuple[int, int] | None = None) -> None:
    """Write the predictions of every case (of `shard`); exit 5 after the others when some case failed.

    An AIAA model config (seed 000: `type` and `inference`) runs through `clara_tlt.aiaa` on the datalist; a
    Clara 4.x config on MONAI's evaluator (its SaveImaged writes the outputs).
    """
    from clara_tlt.cli.clara4 import is_clara4, run_clara4

    if is_clara4(config.data):
        run_clara4(config, stage="infer", dry=False, as_json=as_json, shard=shard)
        return
    from clara_tlt.aiaa.model_config import is_aiaa_config
    from clara_tlt.engines.runner import raise_for_failures, run_config

    if is_aiaa_config(config.data):
        if shard is not None:
            raise UsageError("--shard runs a validation config's cases; an AIAA config runs whole")
        summary = _run_aiaa(config)
        line = f"Inferred {summary['cases']} case(s) in {summary['seconds']} s; outputs in {summary['output_path']}."
    else:
        summary = run_config(config, score=False, shard=shard, output_format=output_format())
        line = summary.get("empty_shard") or (
            f"Inferred {summary['cases']} case(s) in {summary['seconds']} s with {summary['model']} "
            f"({summary['model_format']}); outputs in {summary['output_path']}."
        )
    emit_once(summary, as_json=as_json, lines=[line])
    raise_for_failures(summary)


def check_outputs(config: ResolvedConfig, workflow: Any, *, score: bool = False) -> None:
    """`--dry-run` checks what the real run checks first: output folders, two cases of one name, and
    (`score`, evaluate) a metric that nothing computes."""
    from clara_tlt.aiaa.model_config import is_aiaa_config
    from clara_tlt.engines.runner import planned_outputs

    if not is_aiaa_config(config.data):
        planned_outputs(config, workflow, score=score, output_format=output_format())


def _run_aiaa(config: ResolvedConfig) -> dict[str, Any]:
    from clara_tlt.aiaa.run import run_aiaa
    from clara_tlt.data.datalist import load_datalist
    from clara_tlt.engines.runner import output_flag
    from clara_tlt.io.outputs import check_output_folder

    variables = config.variables
    if not variables.get("DATASET_JSON") or not variables.get("MMAR_EVAL_OUTPUT_PATH"):
        raise UsageError(
            "an AIAA config runs with --data_file DATALIST and --output_path DIR (tlt-infer), or over a folder "
            "with `clara-tlt deploy --config CONFIG --input DIR --output DIR`"
        )
    check_output_folder(variables["MMAR_EVAL_OUTPUT_PATH"], flag=output_flag(config))
    key = variables.get("DATA_LIST_KEY") or "validation"
    entries = load_datalist(variables["DATASET_JSON"], key, base_dir=variables.get("DATA_ROOT") or None)
    return run_aiaa(
        config.file,
        model_path=variables.get("MODEL_FILE_PATH"),
        entries=entries,
        output_dir=variables["MMAR_EVAL_OUTPUT_PATH"],
        output_format=output_format(),
    )


STAGE = Stage(run=run, preflight=check_outputs)
mmar_command = output_format_option(
    mmar_workflow_command("infer", STAGE, summary=SUMMARIES["infer"], output_folder=INFER_FOLDER)
)
tlt_command = output_format_option(
    tlt_inference_command("tlt-infer", STAGE, summary="Run inference on a datalist's validation list.")
)
