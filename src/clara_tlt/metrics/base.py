"""The metric protocol the engines rely on, and a base class that keeps per-case values in named buffers.

A validation or evaluation run is `reset()`, then `update(sample)` per batch (a dict of batched tensors, the
network output under `"model"`), then `aggregate() -> float`. Keeping per-case values (not running sums) lets
evaluate report each case and lets ranks of a torchrun job merge their cases exactly (`sync_metrics`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch
import torch.distributed as dist


@runtime_checkable
class Metric(Protocol):
    """What the trainer's validation and the evaluate command call. `name` labels logs and reports;
    `is_key_metric` marks the metric that picks the best checkpoint."""

    name: str
    is_key_metric: bool

    def reset(self) -> None: ...

    def update(self, sample: dict[str, Any]) -> Any: ...

    def aggregate(self) -> float: ...


# Why a case has no value for a class (codes of `CaseValues.empty`).
NOT_EMPTY, EMPTY_LABEL, EMPTY_PREDICTION, EMPTY_BOTH = 0, 1, 2, 3
EMPTY_NOTES = {
    EMPTY_LABEL: "empty ground truth",
    EMPTY_PREDICTION: "empty prediction",
    EMPTY_BOTH: "empty ground truth and prediction",
}


@dataclass
class CaseValues:
    """A metric's value per case and column (class), in the order the cases were updated.

    `values` `(cases, columns)` float64, NaN where the case has no value; `empty` `(cases, columns)` the
    `EMPTY_*` code saying which side was empty (0 where neither was).
    """

    columns: list[str]
    values: torch.Tensor
    empty: torch.Tensor


class ClaraMetric:
    """Common fields: `name`, `field` (prediction key), `label_field`, each metric with its own defaults;
    per-case buffers.

    Clara 3.1's arguments every metric takes, which a metric's `**base` passes on here (the component factory
    accepts and checks them as declared here): `is_key_metric`, the metric that picks the best checkpoint;
    `report_path`, the folder where evaluate writes this metric's per-case (`<name>_raw_results.txt`) and
    summary reports (else the output folder); `do_summary` and `do_print`, whether the trainer writes the value
    to TensorBoard and to the progress log (it is computed, kept in the training summary and used as the key
    metric either way).
    """

    def __init__(
        self,
        name: str,
        field: str,
        label_field: str | None,
        *,
        is_key_metric: bool = False,
        report_path: str | None = None,
        do_summary: bool = True,
        do_print: bool = True,
    ) -> None:
        self.name = name
        self.field = field
        self.label_field = label_field
        self.is_key_metric = is_key_metric
        self.report_path = report_path
        self.do_summary = do_summary
        self.do_print = do_print
        self.buffers: dict[str, list[torch.Tensor]] = {}

    def reset(self) -> None:
        self.buffers = {}

    def append(self, buffer: str, rows: torch.Tensor) -> None:
        """Keep `rows` (first axis: cases) on the CPU under `buffer`."""
        self.buffers.setdefault(buffer, []).append(rows.detach().cpu())

    def stacked(self, buffer: str) -> torch.Tensor:
        """Every row of `buffer`, concatenated over batches (and over ranks after `sync_metrics`)."""
        rows = self.buffers.get(buffer)
        if not rows:
            raise ValueError(f"metric '{self.name}' has no values: no validation batch reached it")
        return torch.cat(rows)

    def pair(self, sample: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """(prediction, label) tensors of a batch, on the prediction's device."""
        if self.label_field is None:
            raise KeyError(f"metric '{self.name}' needs a label_field")
        for key in (self.field, self.label_field):
            if key not in sample:
                raise KeyError(
                    f"metric '{self.name}' reads field '{key}', which the batch lacks (fields: {', '.join(sample)})"
                )
        prediction = torch.as_tensor(sample[self.field])
        return prediction, torch.as_tensor(sample[self.label_field]).to(prediction.device)

    def case_values(self) -> CaseValues | None:
        """Per-case values for evaluate's reports; None for a metric defined only over all cases (AUC)."""
        return None


def names_without(metrics: list[Any], flag: str) -> frozenset[str]:
    """Names of the metrics whose `flag` (`do_summary`, `do_print`) is false: the handlers leave them out."""
    return frozenset(m.name for m in metrics if not getattr(m, flag, True))


def sync_metrics(metrics: Iterable[Any]) -> None:
    """Under torchrun, give every rank the cases of all ranks, so each aggregates over the whole list."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return
    for metric in metrics:
        if not isinstance(metric, ClaraMetric):
            continue
        gathered: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(gathered, metric.buffers)
        merged: dict[str, list[torch.Tensor]] = {}
        for buffers in gathered:
            for key, rows in buffers.items():
                merged.setdefault(key, []).extend(rows)
        metric.buffers = merged
