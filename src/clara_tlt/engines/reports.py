"""Evaluation reports: per-case and summary files of each metric, `metrics.csv`, `metrics.json`, a table.

For a metric named `mean_dice`, at its `report_path` (else the output folder), as seed 003 names them:

- `mean_dice_raw_results.txt`: a `#` header, then one tab-separated line per case: the image file and the
  value per class (`%.6f`); a class without a value says why (`empty_ground_truth`, `empty_prediction`,
  `empty_ground_truth_and_prediction`).
- `mean_dice_summary_results.txt`: one line per class and one for `all` (the metric's aggregate):
  `mean`, `std` (population), `min`, `max`, `count` over the cases with a value, and how many were empty.

In the output folder: `metrics.csv` (`file,metric,class,value,note`, one row per case, metric and class)
and `metrics.json` (`metrics`: aggregates; `summary`; `cases`; `failed`).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from clara_tlt.atomic import write_text_atomic
from clara_tlt.metrics.base import EMPTY_BOTH, EMPTY_LABEL, EMPTY_NOTES, EMPTY_PREDICTION, CaseValues, Metric

CSV_COLUMNS = ("file", "metric", "class", "value", "note")


@dataclass
class CaseFailure:
    """A case that failed: its image file, the step (`read`, `infer`, `write`) and what went wrong."""

    file: str
    step: str
    error: str


def aggregate(metric: Metric) -> float | None:
    """The metric over every case; None when no case reached it (all failed)."""
    try:
        value = metric.aggregate()
    except ValueError:
        return None
    return None if math.isnan(value) else value


def case_values(metric: Metric) -> CaseValues | None:
    getter = getattr(metric, "case_values", None)
    try:
        return getter() if callable(getter) else None
    except ValueError:  # no case reached the metric
        return None


def statistics(values: torch.Tensor, empty: torch.Tensor) -> dict[str, float | int | None]:
    """mean, std, min, max and count of the finite `values` `(cases,)`, and counts of empty cases."""
    finite = values[torch.isfinite(values)].double()
    stats: dict[str, float | int | None] = {
        "mean": float(finite.mean()) if len(finite) else None,
        "std": float(finite.std(unbiased=False)) if len(finite) else None,
        "min": float(finite.min()) if len(finite) else None,
        "max": float(finite.max()) if len(finite) else None,
        "count": len(finite),
        "empty_ground_truth": int(((empty == EMPTY_LABEL) | (empty == EMPTY_BOTH)).sum()),
        "empty_prediction": int(((empty == EMPTY_PREDICTION) | (empty == EMPTY_BOTH)).sum()),
    }
    return stats


def note(code: int) -> str:
    return EMPTY_NOTES.get(code, "")


def build_report(
    metrics: Sequence[Metric], cases: Sequence[str], failed: Sequence[CaseFailure]
) -> dict[str, Any]:
    """The JSON-ready report: aggregates, per-class summaries, per-case values (None: no value), failures."""
    report: dict[str, Any] = {
        "metrics": {m.name: aggregate(m) for m in metrics},
        "summary": {},
        "cases": [{"file": file} for file in cases],
        "failed": [asdict(f) for f in failed],
    }
    for metric in metrics:
        table = case_values(metric)
        if table is None:
            continue
        report["summary"][metric.name] = {
            column: statistics(table.values[:, j], table.empty[:, j])
            for j, column in enumerate(table.columns)
        }
        for row, case in zip(table.values.tolist(), report["cases"], strict=True):
            case[metric.name] = {
                column: (value if math.isfinite(value) else None)
                for column, value in zip(table.columns, row, strict=True)
            }
    return report


def write_reports(
    metrics: Sequence[Metric],
    cases: Sequence[str],
    report: dict[str, Any],
    *,
    output_dir: Path,
    subfolder: str = "",
) -> dict[str, str]:
    """Write every report file of `report` (from `build_report`); returns their paths by name.

    `subfolder` (a `--shard`'s own, `shard_0_of_4`) goes under the output folder and each metric's `report_path`.
    """
    output_dir = output_dir / subfolder
    files: dict[str, str] = {}
    rows: list[tuple[Any, ...]] = []
    for metric in metrics:
        table = case_values(metric)
        if table is None:
            continue
        folder = Path(getattr(metric, "report_path", None) or output_dir) / subfolder
        raw = folder / f"{metric.name}_raw_results.txt"
        write_text_atomic(raw, _raw_text(table, cases))
        summary = folder / f"{metric.name}_summary_results.txt"
        write_text_atomic(
            summary, _summary_text(report["summary"][metric.name], report["metrics"][metric.name])
        )
        files[raw.name], files[summary.name] = str(raw), str(summary)
        for i, file in enumerate(cases):
            for j, column in enumerate(table.columns):
                value = float(table.values[i, j])
                shown = f"{value:.6f}" if math.isfinite(value) else ""
                rows.append((file, metric.name, column, shown, note(int(table.empty[i, j]))))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(rows)
    write_text_atomic(output_dir / "metrics.csv", buffer.getvalue())
    write_text_atomic(output_dir / "metrics.json", json.dumps(report, indent=2) + "\n")
    files["metrics.csv"], files["metrics.json"] = (
        str(output_dir / "metrics.csv"),
        str(output_dir / "metrics.json"),
    )
    return files


def _raw_text(table: CaseValues, cases: Sequence[str]) -> str:
    lines = ["# file\t" + "\t".join(table.columns)]
    for i, file in enumerate(cases):
        cells = []
        for j in range(len(table.columns)):
            value = float(table.values[i, j])
            cells.append(
                f"{value:.6f}" if math.isfinite(value) else note(int(table.empty[i, j])).replace(" ", "_")
            )
        lines.append(file + "\t" + "\t".join(cells))
    return "\n".join(lines) + "\n"


def _summary_text(per_class: dict[str, dict[str, Any]], overall: float | None) -> str:
    lines = []
    for column, stats in per_class.items():
        cells = [f"{key}={_number(value)}" for key, value in stats.items()]
        lines.append(column + "\t" + "\t".join(cells))
    lines.append(f"all\tmean={_number(overall)}")
    return "\n".join(lines) + "\n"


def _number(value: Any) -> str:
    if value is None:
        return "none"
    return f"{value:.6f}" if isinstance(value, float) else str(value)


def table_lines(report: dict[str, Any]) -> list[str]:
    """A readable table: each metric's aggregate, then each class's mean ± std over its count of cases."""
    lines = [f"{'metric':<24} {'class':<10} {'mean':>10} {'std':>10} {'min':>10} {'max':>10} {'cases':>6}"]
    for name, value in report["metrics"].items():
        lines.append(f"{name:<24} {'all':<10} {_number(value):>10}")
        for column, stats in report["summary"].get(name, {}).items():
            numbers = [_number(stats[k]) for k in ("mean", "std", "min", "max")]
            lines.append(
                f"{'':<24} {column:<10} " + " ".join(f"{n:>10}" for n in numbers) + f" {stats['count']:>6}"
            )
    return lines
