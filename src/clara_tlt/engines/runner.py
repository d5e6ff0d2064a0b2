"""`infer` and `evaluate` of a validation config over its datalist: the checks before any work, the
assembled Predictor on this rank's cases, the ranks' results gathered, the reports and the summary.

>>> summary = run_config(load_config("config/config_validation.json", mmar_root="."), score=True)  # doctest: +SKIP
>>> raise_for_failures(summary)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clara_tlt.config.loader import ResolvedConfig
from clara_tlt.data.datalist import shard_entries
from clara_tlt.engines import profile
from clara_tlt.engines.assembly import (
    assemble,
    default_writers,
    formatted_writers,
    prediction_section,
    section_writers,
)
from clara_tlt.engines.distributed import Context, is_main_rank, setup, teardown
from clara_tlt.engines.evaluation import check_scoring, validation_scoring
from clara_tlt.engines.predictor import Outcome, Sample, Step, case_file
from clara_tlt.engines.reports import CaseFailure, build_report, write_reports
from clara_tlt.engines.shards import save_shard, shard_folder
from clara_tlt.engines.workflow import Workflow, build_workflow, eval_output_dir
from clara_tlt.errors import UsageError, batch_failure
from clara_tlt.formats.outputs import IMAGE
from clara_tlt.io.outputs import check_output_folder, name_entries

log = logging.getLogger(__name__)


def run_config(
    config: ResolvedConfig,
    *,
    score: bool,
    shard: tuple[int, int] | None = None,
    output_format: str = IMAGE,
) -> dict[str, Any]:
    """`infer` (`score=False`) or `evaluate` (`score=True`) of a resolved config, on this rank's cases.

    Builds the workflow, assembles the Predictor (its model loaded), takes `shard` (I, N) of the datalist
    (`--shard`; its reports go to `shard_I_of_N/` of the output folder and of each metric's `report_path`), shards that under torchrun, runs
    `predict_all`, and (rank 0) writes the reports; returns the summary, failed cases listed under `failed`
    (`raise_for_failures` turns them into exit 5, or 1 when every case failed, once the caller has printed it).
    `output_format` (infer's `--output-format`): `dicom-seg` writes DICOM SEG instead of images
    (`formatted_writers`).
    """
    timer = profile.current()
    with timer.stage(profile.SET_UP):
        workflow = build_workflow(config, default_data_list_key="validation")
        output_dir, writers, entries = planned_outputs(
            config, workflow, score=score, output_format=output_format
        )
    if shard is not None:
        entries = shard_entries(entries, shard[0], shard[1], pad=False)
        if not entries:
            return empty_shard(shard, output_dir)
    if not score and not section_writers(workflow):
        log.info(
            "the config names no writer: labels go to %s as NIfTI (<case>/<case>_model.nii.gz)", output_dir
        )
    context = setup()
    try:
        with timer.stage(profile.SET_UP):
            assembled = assemble(workflow, device=context.device, score=score, writers=writers)
        predictor, loaded = assembled.predictor, assembled.model
        assert loaded is not None  # a validation config brings no inference of its own
        outcome = predictor.predict_all(shard_entries(entries, context.rank, context.world_size, pad=False))
        predictor.scoring.merge_ranks()
        cases, failures = _gather(outcome, context)
        report = build_report(predictor.metrics, cases, failures)
        files = {}
        if score and context.is_main:
            with timer.stage(profile.REPORTS):
                files = _write_scores(
                    config, predictor.metrics, report, output_dir, shard=shard, model=str(loaded.path)
                )
    finally:
        teardown(context)
    return {
        "model": str(loaded.path),
        "model_format": loaded.model_format,
        "output_path": str(output_dir),
        "cases": len(cases),
        "seconds": round(outcome.seconds, 3),
        **({"metrics": report["metrics"], "summary": report["summary"], "files": files} if score else {}),
        "failed": report["failed"],
    }


def _write_scores(
    config: ResolvedConfig,
    metrics: Sequence[Any],
    report: dict[str, Any],
    output_dir: Path,
    *,
    shard: tuple[int, int] | None,
    model: str,
) -> dict[str, str]:
    """evaluate's reports, into the output folder, or (`--shard`) into its `shard_I_of_N/` with what
    `evaluate --merge-shards` reads."""
    cases = [case["file"] for case in report["cases"]]
    if shard is None:
        return write_reports(metrics, cases, report, output_dir=output_dir)
    subfolder = shard_folder(shard)
    files = write_reports(metrics, cases, report, output_dir=output_dir, subfolder=subfolder)
    failures = [CaseFailure(**failure) for failure in report["failed"]]
    save_shard(
        output_dir / subfolder,
        shard=shard,
        config=config,
        model=model,
        metrics=metrics,
        cases=cases,
        failures=failures,
    )
    return files


def empty_shard(shard: tuple[int, int], output_dir: Path) -> dict[str, Any]:
    """The summary of a shard with no cases (more shards than cases): nothing was run or written."""
    message = f"shard {shard[0]}/{shard[1]} holds no case (fewer cases than shards); nothing was written"
    log.warning(message)
    return {"output_path": str(output_dir), "cases": 0, "failed": [], "empty_shard": message}


def raise_for_failures(summary: dict[str, Any]) -> None:
    """Once the summary of a case run is printed: PartialFailure (exit 5) when some cases failed,
    NothingDone (exit 1) when all did, each failed case named; nothing when none failed. Under torchrun every
    rank holds the gathered summary and rank 0 alone reports it (the others end with 0, so the failure is said
    once and no rank is stopped half-way by another's exit)."""
    failed = summary["failed"]
    lines = [f"{f['file']}: {f['step']}: {f['error']}" for f in failed]
    error = batch_failure(summary["cases"] + len(failed), lines, items="case(s)")
    if error is not None and is_main_rank():
        raise error


def planned_outputs(
    config: ResolvedConfig, workflow: Workflow, *, score: bool, output_format: str = IMAGE
) -> tuple[Path, list[Any], list[Sample]]:
    """Every check infer/evaluate make before any work (their dry runs too): the output folder and each
    writer's (exit 2), the output name of each case over the whole datalist, before sharding (clashes: exit 4),
    and (evaluate) a metric that nothing computes (exit 3).

    Returns the output folder, the writers (infer of a config without any: `default_writers`; as
    `output_format` asks: `formatted_writers`) and the datalist entries with their `OUTPUT_NAME`.
    """
    output_dir = eval_output_dir(config)
    if output_dir is None:
        raise UsageError("no output folder: give --output_path or set MMAR_EVAL_OUTPUT_PATH")
    check_output_folder(output_dir, flag=output_flag(config))
    if score:
        section = prediction_section(config)
        check_scoring(workflow, section, validation_scoring(workflow, section))
    writers = section_writers(workflow) or ([] if score else default_writers(workflow, output_dir))
    writers = formatted_writers(
        writers, output_format, labels=config.data.get("labels"), file=str(config.file)
    )
    _check_writer_folders(writers, output_dir, config)
    entries = workflow.datalists[-1].entries
    return output_dir, writers, name_entries(entries, case_file) if writers else list(entries)


def output_flag(config: ResolvedConfig) -> str:
    """What names infer/evaluate's output folder for the user: `--output_path` (TLT dialect) or the variable."""
    return "MMAR_EVAL_OUTPUT_PATH" if config.mmar_root is not None else "--output_path"


def _check_writer_folders(writers: Sequence[Step], output_dir: Path, config: ResolvedConfig) -> None:
    """The folder of each writer whose `write_path` the config sets elsewhere than the output folder."""
    for writer in writers:
        path = getattr(writer, "write_path", None)
        if path is not None:
            folder = Path(path).parent if Path(path).suffix.lower() == ".csv" else Path(path)
            if folder.absolute() != output_dir.absolute():
                check_output_folder(folder, flag=f"{config.file}: the writer's write_path")


def _gather(outcome: Outcome, context: Context) -> tuple[list[str], list[CaseFailure]]:
    """Every rank's finished files (in the rank order `merge_ranks` merges the metric rows) and failures."""
    if not context.distributed:
        return outcome.cases, outcome.failures
    import torch.distributed as dist

    gathered: list[Any] = [None] * context.world_size
    dist.all_gather_object(gathered, (outcome.cases, outcome.failures))
    return [c for cases, _ in gathered for c in cases], [f for _, failures in gathered for f in failures]
