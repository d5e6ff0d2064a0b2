"""Score cases: the one scoring step (`Scoring`) and the trainer's validation loop over batches (`evaluate`).

`Scoring.update(batch)` runs the aux ops and updates every metric with one batch, all or nothing; the
`Predictor` (infer, evaluate, deploy) scores each finished case through it and `evaluate(...)` each validation
batch. `evaluate` takes batches (dicts with `image` `(N, C, *spatial)` and the label fields), infers with the
config's inferer, writes the output under `"model"`, scores it, merges the ranks' cases under torchrun, and
returns each metric's aggregate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from clara_tlt.metrics.base import Metric, sync_metrics

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


@torch.no_grad()
def evaluate(
    network: nn.Module,
    batches: Iterable[Batch],
    *,
    inferer: Callable[[torch.Tensor, nn.Module], torch.Tensor],
    metrics: Sequence[Metric],
    aux_ops: Sequence[Callable[[Batch], Batch]] = (),
    device: torch.device,
    amp: bool = False,
) -> Evaluation:
    """Score `network` on `batches`; the network is left in eval mode."""
    network.eval()
    scoring = Scoring(metrics, aux_ops)
    scoring.reset()
    preview = None
    for batch in batches:
        sample = to_device(batch, device)
        with torch.autocast(device.type, enabled=amp):
            output = inferer(sample["image"], network)
        sample["model"] = plain(output).float()
        sample = scoring.update(sample)
        if preview is None:
            preview = _preview(sample)
    scoring.merge_ranks()
    return Evaluation(
        metrics={metric.name: metric.aggregate() for metric in metrics},
        key_metric=key_metric_name(metrics),
        preview=preview,
    )


def _preview(sample: Batch) -> dict[str, torch.Tensor] | None:
    """Middle slices of the first case of a 3-D segmentation batch, scaled to [0, 1] for an image summary."""
    output = sample["model"]
    if output.ndim != 5 or "label" not in sample:
        return None
    middle = output.shape[-1] // 2
    prediction = (
        output[0].argmax(dim=0)[..., middle].float() if output.shape[1] > 1 else output[0, 0, ..., middle]
    )
    image = sample["image"][0, 0, ..., middle].float()
    label = sample["label"][0, 0, ..., middle].float()
    return {
        name: _unit(t).cpu() for name, t in (("image", image), ("label", label), ("prediction", prediction))
    }


def _unit(x: torch.Tensor) -> torch.Tensor:
    low, high = x.min(), x.max()
    return (x - low) / (high - low) if high > low else torch.zeros_like(x)
