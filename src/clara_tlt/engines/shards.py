"""evaluate's shards: what `evaluate --shard I/N` keeps of its cases, and `evaluate --merge-shards N`, which
turns the N shards' cases into the reports one process over the whole datalist writes.

Shard I/N writes into `shard_I_of_N/` of the output folder: its reports, the metrics' per-case rows
(`metric_state.pt`) and, last, `shard.json` (its cases, failures, model and a digest of the resolved config),
whose presence says the shard finished.

>>> summary = merge_shards(load_config("config/config_validation.json", mmar_root="."), 4)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from clara_tlt.atomic import write_bytes_atomic, write_text_atomic
from clara_tlt.config.loader import ResolvedConfig
from clara_tlt.engines.assembly import prediction_section
from clara_tlt.engines.evaluation import validation_scoring
from clara_tlt.engines.predictor import case_file
from clara_tlt.engines.reports import CaseFailure, build_report, write_reports
from clara_tlt.engines.workflow import build_workflow, eval_output_dir
from clara_tlt.errors import ConfigError, NoInputError, UsageError
from clara_tlt.metrics.base import ClaraMetric

SHARD_RECORD = "shard.json"
SHARD_STATE = "metric_state.pt"


def shard_folder(shard: tuple[int, int]) -> str:
    """The subfolder of evaluate's output folder (and of each metric's `report_path`) that shard (I, N)
    writes into: no shard writes a file another shard writes."""
    return f"shard_{shard[0]}_of_{shard[1]}"


def config_digest(config: ResolvedConfig) -> str:
    """sha256 of the resolved config (variables substituted): shards of one job have the same."""
    text = json.dumps(config.data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def save_shard(
    folder: Path,
    *,
    shard: tuple[int, int],
    config: ResolvedConfig,
    model: str,
    metrics: Sequence[Any],
    cases: list[str],
    failures: list[CaseFailure],
) -> None:
    """Keep what `merge_shards` needs of a finished shard in `folder`: the metrics' rows, then `shard.json`."""
    buffer = io.BytesIO()
    plain = {  # plain tensors (no MONAI MetaTensor), so `torch.load` reads them with weights_only
        m.name: {key: [row.as_subclass(torch.Tensor) for row in rows] for key, rows in m.buffers.items()}
        for m in metrics
        if isinstance(m, ClaraMetric)
    }
    torch.save(plain, buffer)
    write_bytes_atomic(folder / SHARD_STATE, buffer.getvalue())
    record = {
        "shard": f"{shard[0]}/{shard[1]}",
        "config": config.file,
        "config_sha256": config_digest(config),
        "model": model,
        "cases": cases,
        "failed": [asdict(f) for f in failures],
    }
    write_text_atomic(folder / SHARD_RECORD, json.dumps(record, indent=2) + "\n")


def merge_shards(config: ResolvedConfig, count: int) -> dict[str, Any]:
    """The reports of one run over every case, written into the output folder from the N shards' rows there,
    in datalist order. NoInputError (exit 4) naming the shards not finished; ConfigError (exit 3) naming the
    difference when shards ran another config or model than the others (or than `config`); nothing written."""
    output_dir = eval_output_dir(config)
    if output_dir is None:
        raise UsageError("no output folder: give --output_path or set MMAR_EVAL_OUTPUT_PATH")
    workflow = build_workflow(config, default_data_list_key="validation")
    files = [case_file(entry) for entry in workflow.datalists[-1].entries]
    # shards past the last case hold none and write nothing
    folders = [output_dir / shard_folder((index, count)) for index in range(min(count, len(files)))]
    missing = [f"{i}/{count}" for i, folder in enumerate(folders) if not (folder / SHARD_RECORD).is_file()]
    if missing:
        raise NoInputError(
            f"{output_dir}: shard(s) {', '.join(missing)} of {count} have not finished (no "
            f"shard_I_of_{count}/{SHARD_RECORD}); nothing was written. Run `evaluate --shard I/{count}` for "
            "each, then merge again"
        )
    records = [json.loads((folder / SHARD_RECORD).read_text()) for folder in folders]
    _check_same_job(records, config_digest(config), config.file)
    metrics = validation_scoring(workflow, prediction_section(config)).metrics
    position = {file: index for index, file in reversed(list(enumerate(files)))}
    cases = [case for record in records for case in record["cases"]]
    order = sorted(range(len(cases)), key=lambda i: position.get(cases[i], len(files)))
    states = [torch.load(folder / SHARD_STATE) for folder in folders]
    for metric in metrics:
        if isinstance(metric, ClaraMetric):
            metric.buffers = _merged_rows([state.get(metric.name, {}) for state in states], order)
    failures = [CaseFailure(**f) for record in records for f in record["failed"]]
    failures.sort(key=lambda f: position.get(f.file, len(files)))
    cases = [cases[i] for i in order]
    report = build_report(metrics, cases, failures)
    return {
        "model": records[0]["model"],
        "output_path": str(output_dir),
        "cases": len(cases),
        "shards": count,
        "metrics": report["metrics"],
        "summary": report["summary"],
        "files": write_reports(metrics, cases, report, output_dir=output_dir),
        "failed": report["failed"],
    }


def _check_same_job(records: list[dict[str, Any]], digest: str, file: str) -> None:
    """ConfigError naming the first shard whose model or resolved config differs from shard 0's or `file`'s."""
    first = records[0]
    for record in records:
        if record["model"] != first["model"]:
            raise ConfigError(
                f"shard {record['shard']} ran model {record['model']} but shard {first['shard']} ran "
                f"{first['model']}; nothing was written. Rerun the shards with one model"
            )
        if record["config_sha256"] != digest:
            raise ConfigError(
                f"shard {record['shard']} ran another config ({record['config']}, resolved sha256 "
                f"{record['config_sha256'][:12]}) than this merge ({file}, {digest[:12]}); nothing was "
                "written. Merge with the shards' config and flags, or rerun the shards with these"
            )


def _merged_rows(
    states: list[dict[str, list[torch.Tensor]]], order: list[int]
) -> dict[str, list[torch.Tensor]]:
    """Each buffer's rows of every shard, concatenated in shard order, then put in datalist `order` when
    it holds one row per case."""
    merged: dict[str, list[torch.Tensor]] = {}
    for state in states:
        for key, rows in state.items():
            merged.setdefault(key, []).extend(rows)
    for key, rows in merged.items():
        stacked = torch.cat(rows)
        if len(stacked) == len(order):
            merged[key] = [stacked[order]]
    return merged
