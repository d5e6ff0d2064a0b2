"""Score cases: the one scoring step (`Scoring`), what training's validation and evaluate score with
(`validation_scoring`), and the checks before any case.

`Scoring.update(batch)` runs the aux ops and updates every metric with one batch, all or nothing; the
`Predictor` scores each finished case through it, for infer, evaluate, deploy and training's validation alike
(clara_tlt.engines.validation runs the validation pipeline's cases through a Predictor).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from clara_tlt.config.keypath import child
from clara_tlt.errors import ConfigError, located
from clara_tlt.metrics.base import Metric, sync_metrics

if TYPE_CHECKING:
    from clara_tlt.engines.workflow import Workflow

Batch = dict[str, Any]


@dataclass
class Evaluation:
    """Aggregated metrics by name, the key metric's name, and a preview of the first case for TensorBoard
    (`image`, `label`, `prediction`: 2-D slices through the middle of the last spatial axis)."""

    metrics: dict[str, float]
    key_metric: str | None
    preview: dict[str, torch.Tensor] | None = None

    @property
    def key_value(self) -> float | None:
        return self.metrics.get(self.key_metric) if self.key_metric else None


@dataclass
class Scoring:
    """The metrics of a run and the aux ops that feed them (`NegLoss`'s loss, …)."""

    metrics: Sequence[Metric] = ()
    aux_ops: Sequence[Callable[[Batch], Batch]] = ()

    def reset(self) -> None:
        """Forget every case scored so far."""
        for metric in self.metrics:
            metric.reset()

    def update(self, batch: Batch) -> Batch:
        """Run the aux ops on `batch` (its `model` set) and update every metric with it, or (on an error) none:
        each metric keeps one row per scored case, in the same order, for the per-case reports. Returns the
        batch as the aux ops left it."""
        for op in self.aux_ops:
            batch = op(batch)
        kept = [_row_counts(metric) for metric in self.metrics]
        try:
            for metric in self.metrics:
                metric.update(batch)
        except Exception:
            for metric, counts in zip(self.metrics, kept, strict=True):
                for name, rows in getattr(metric, "buffers", {}).items():
                    del rows[counts.get(name, 0) :]
            raise
        return batch

    def merge_ranks(self) -> None:
        """Every rank's cases into every rank's metrics, in rank order (a no-op without torchrun)."""
        sync_metrics(self.metrics)


def validation_scoring(workflow: Workflow, section: str) -> Scoring:
    """What training's validation scores with, for training and evaluate alike: the metrics of `section`
    (`validate`, or `""` for a validation config's top level: `val_metrics`, else `metrics`) after the aux
    ops of the train section and then of `section`, so both compute the same values under the same names."""
    metrics = workflow.get(child(section, "val_metrics")) or workflow.get(child(section, "metrics")) or []
    own = workflow.get(child(section, "aux_ops")) or []
    return Scoring(metrics, [*(workflow.get("train.aux_ops") or []), *own])


AUX_OUTPUTS = (
    "tag",
    "tags",
    "preds_name",
    "labels_name",
)  # where the aux ops we ship keep the fields they write


def check_scoring(workflow: Workflow, section: str, scoring: Scoring) -> None:
    """ConfigError (exit 3), before any case is read, for each metric whose `field` nothing computes: neither
    the network (`model`), nor an aux op that runs, nor a transform that names it. Skipped when an aux op keeps
    its outputs elsewhere than `AUX_OUTPUTS` (a bring-your-own one): what it writes cannot be known up front."""
    if any(not any(hasattr(op, name) for name in AUX_OUTPUTS) for op in scoring.aux_ops):
        return
    ran = sorted({o for op in scoring.aux_ops for name in AUX_OUTPUTS for o in _strings(op, name)})
    written = {"model", *ran, *_named_strings(workflow.config.data)}
    slot = child(section, "val_metrics" if workflow.get(child(section, "val_metrics")) else "metrics")
    read = [(i, metric, getattr(metric, "field", None)) for i, metric in enumerate(scoring.metrics)]
    problems = [
        located(
            f"metric '{metric.name}'{' (the key metric)' if getattr(metric, 'is_key_metric', False) else ''} "
            f"reads '{field}', which nothing computes: the aux ops of train.aux_ops and "
            f"{child(section, 'aux_ops')} write {', '.join(ran) or 'nothing'}; add the aux op that writes "
            f"'{field}' (NegLoss, ComputeAccuracy, ... with that tag) or point the metric at one of those",
            file=workflow.config.file,
            key_path=child(child(slot, i), "args.field"),
        )
        for i, metric, field in read
        if isinstance(field, str) and field not in written
    ]
    if problems:
        raise ConfigError("\n".join(problems))


def _strings(op: Any, name: str) -> list[str]:
    value = getattr(op, name, None)
    return [value] if isinstance(value, str) else [v for v in value or [] if isinstance(v, str)]


def _named_strings(spec: Any, *, skip: tuple[str, ...] = ("metrics", "val_metrics", "aux_ops")) -> set[str]:
    """Every string of a config outside its metrics and aux ops: the fields its transforms read and write."""
    if isinstance(spec, str):
        return {spec}
    if isinstance(spec, list):
        return {s for item in spec for s in _named_strings(item, skip=skip)}
    if isinstance(spec, dict):
        return {s for key, value in spec.items() if key not in skip for s in _named_strings(value, skip=skip)}
    return set()


def _row_counts(metric: Metric) -> dict[str, int]:
    """How many rows each per-case buffer of a `ClaraMetric` holds (none for other metrics)."""
    return {name: len(rows) for name, rows in getattr(metric, "buffers", {}).items()}


def key_metric_name(metrics: Sequence[Metric]) -> str | None:
    """The metric marked `is_key_metric`, else the first; None without metrics."""
    for metric in metrics:
        if getattr(metric, "is_key_metric", False):
            return metric.name
    return metrics[0].name if metrics else None


def plain(value: Any) -> Any:
    """A MetaTensor as a plain tensor (its metadata costs time in every operation of a forward pass)."""
    as_tensor = getattr(value, "as_tensor", None)
    return as_tensor() if callable(as_tensor) else value


def to_device(batch: Batch, device: torch.device) -> Batch:
    """Every tensor of a batch on `device`, as a plain tensor; other values unchanged."""
    return {
        k: plain(v).to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
        for k, v in batch.items()
    }
