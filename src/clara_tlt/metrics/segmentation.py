"""Segmentation metrics per case and foreground class: Dice, Hausdorff 95 and average surface distance.

Each keeps one row per case `(cases, C-1)` (background left out) and a code per row saying whether the
ground truth or the prediction of that class was empty, so evaluate reports such cases as what they are:

- empty ground truth (with any prediction): no value; the case is left out of that class's mean
  (MONAI's `ignore_empty`), since neither a perfect nor a failed score would be true;
- empty prediction, ground truth present: Dice 0 (a missed structure is a real miss); the distances have
  no value (there is no surface to measure from) and are left out of the mean, with the case counted as an
  empty prediction in the summary.

The distances need SciPy (MONAI finds surfaces with `scipy.ndimage`); without it a config naming them
fails when built (exit 3, with the install command). Distances are in millimetres from the spacing of the label's affine (a `MetaTensor`); plain tensors carry
no affine, and then the distances are in voxels.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

import torch
from monai.metrics import compute_average_surface_distance, compute_dice, compute_hausdorff_distance
from monai.networks.utils import one_hot

from clara_tlt.errors import ConfigError
from clara_tlt.factory.registry import register
from clara_tlt.metrics.base import (
    EMPTY_BOTH,
    EMPTY_LABEL,
    EMPTY_PREDICTION,
    NOT_EMPTY,
    CaseValues,
    ClaraMetric,
)


class SegmentationMetric(ClaraMetric):
    """Common arguments and bookkeeping: one-hot pairs, per-case rows, empty codes, mean over cases then classes.

    `field` holds `(N, C, ...)` class scores (argmax is taken) or `(N, 1, ...)` a label map, or a score map
    binarised as score > `logit_thresh` when its values are not all whole numbers; `label_field` holds
    `(N, 1, ...)` (or `(N, ...)`) integer labels, or `(N, C, ...)` one-hot labels with `is_one_hot_targets`.
    `remove_bg` (default) leaves class 0 out; `is_2d` says the batch is `(N, C, H, W)` and fails a 3-D one.
    `applied_key` (TLT) stands for `field`, `stopping_metric` (TLT) for `is_key_metric`; `report_path`,
    `do_summary`, `do_print`: see `ClaraMetric`.
    """

    default_name = "metric"
    needs: tuple[str, ...] = ()  # modules the MONAI function imports lazily: missing → exit 3 when built

    def __init__(
        self,
        name: str | None = None,
        field: str = "model",
        label_field: str = "label",
        is_key_metric: bool = False,
        applied_key: str | None = None,
        stopping_metric: bool | None = None,
        is_2d: bool = False,
        remove_bg: bool = True,
        logit_thresh: float = 0.5,
        is_one_hot_targets: bool = False,
        **base: Any,
    ) -> None:
        super().__init__(
            name or self.default_name,
            applied_key or field,
            label_field,
            is_key_metric=is_key_metric or bool(stopping_metric),
            **base,
        )
        self.is_2d = is_2d
        self.first_class = 1 if remove_bg else 0
        self.logit_thresh = logit_thresh
        self.is_one_hot_targets = is_one_hot_targets
        for module in self.needs:
            importlib.import_module(module)

    def score(self, prediction: torch.Tensor, label: torch.Tensor, spacing: Any) -> torch.Tensor:
        """Per-case values `(N, K)` of one-hot `(N, K, ...)` prediction and label (the classes scored)."""
        raise NotImplementedError

    def update(self, sample: dict[str, Any]) -> torch.Tensor:
        """Add a batch; returns the per-case values `(N, K)` (NaN where a case has none)."""
        prediction, label = self.pair(sample)
        if self.is_2d and prediction.ndim != 4:
            raise ConfigError(
                f"metric '{self.name}': is_2d is true, but the prediction has shape {list(prediction.shape)}, "
                "not (N, C, H, W); set is_2d to false for 3-D data"
            )
        spacing = voxel_spacing(sample.get(self.label_field or ""), count=int(label.shape[0]))
        channels = int(prediction.shape[1])
        label = self.label_map(label, prediction.ndim)
        prediction = self.predicted_map(prediction)
        num_classes = max(channels if channels > 1 else 2, int(label.max()) + 1, int(prediction.max()) + 1, 2)
        predicted, truth = one_hot(prediction, num_classes), one_hot(label, num_classes)
        predicted, truth = predicted[:, self.first_class :], truth[:, self.first_class :]
        values = self.score(predicted, truth, spacing).double()
        self.append("values", values)
        self.append("empty", emptiness(predicted, truth))
        return values

    def label_map(self, label: torch.Tensor, ndim: int) -> torch.Tensor:
        """`(N, 1, ...)` class indices of a label map (with or without its channel axis) or one-hot labels."""
        if self.is_one_hot_targets and label.ndim == ndim and label.shape[1] > 1:
            return label.argmax(dim=1, keepdim=True)
        if label.ndim == ndim - 1:  # a label map without its channel axis (TLT 1.x configs)
            label = label.unsqueeze(1)
        return label.long()

    def predicted_map(self, prediction: torch.Tensor) -> torch.Tensor:
        """`(N, 1, ...)` predicted classes: argmax of scores, a label map as it is, else score > logit_thresh."""
        if prediction.shape[1] > 1:
            return prediction.argmax(dim=1, keepdim=True)
        if torch.equal(prediction, prediction.round()):
            return prediction.long()
        return (prediction > self.logit_thresh).long()

    def aggregate(self) -> float:
        per_class = self.stacked("values").nanmean(dim=0)
        return float(per_class.nanmean())

    def case_values(self) -> CaseValues:
        values = self.stacked("values")
        columns = [f"class_{index + self.first_class}" for index in range(values.shape[1])]
        return CaseValues(columns=columns, values=values, empty=self.stacked("empty"))


def emptiness(prediction: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """`(N, K)` codes of one-hot `(N, K, ...)` pairs: which side of each case and class has no voxel."""
    no_label = label.flatten(2).sum(dim=2) == 0
    no_prediction = prediction.flatten(2).sum(dim=2) == 0
    codes = torch.full(no_label.shape, NOT_EMPTY, dtype=torch.int8)
    codes[(no_label & ~no_prediction).cpu()] = EMPTY_LABEL
    codes[(~no_label & no_prediction).cpu()] = EMPTY_PREDICTION
    codes[(no_label & no_prediction).cpu()] = EMPTY_BOTH
    return codes


def voxel_spacing(tensor: Any, *, count: int) -> list[list[float]] | None:
    """Each case's voxel spacing (mm) from a `MetaTensor`'s affine (one, or one per case); None without one."""
    affine = getattr(tensor, "affine", None)
    if affine is None:
        return None
    dims = int(tensor.ndim) - 2
    affine = torch.as_tensor(affine, dtype=torch.float64).cpu()
    affines = affine if affine.ndim == 3 else affine.expand(count, *affine.shape)
    return [torch.linalg.norm(a[:dims, :dims], dim=0).tolist() for a in affines]


def _without_empty(values: torch.Tensor, prediction: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """NaN wherever either side is empty (MONAI gives inf or NaN there, with a warning each time)."""
    codes = emptiness(prediction, label).to(values.device)
    return torch.where(codes == NOT_EMPTY, values, torch.full_like(values, float("nan")))


@register("metric", "ComputeAverageDice", aliases=("MetricAverageFromArrayDice",))
class ComputeAverageDice(SegmentationMetric):
    """Mean Dice of the foreground classes, averaged over cases then classes (MONAI's `compute_dice`).

    Clara 3.1 arguments (its `MetricAverageFromArrayDice`): `is_2d`, `remove_bg`, `logit_thresh`,
    `is_one_hot_targets`, as `SegmentationMetric` reads them.
    """

    default_name = "mean_dice"

    def score(self, prediction: torch.Tensor, label: torch.Tensor, spacing: Any) -> torch.Tensor:
        return compute_dice(prediction, label, include_background=True, ignore_empty=True)


@register("metric", "ComputeHausdorffDistance95", aliases=("ComputeHausdorff95",))
class ComputeHausdorffDistance95(SegmentationMetric):
    """95th-percentile symmetric Hausdorff distance of the foreground classes, in mm (MONAI's
    `compute_hausdorff_distance(percentile=95)`), averaged over cases then classes."""

    default_name = "hausdorff95"
    needs = ("scipy.ndimage",)

    def score(self, prediction: torch.Tensor, label: torch.Tensor, spacing: Any) -> torch.Tensor:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = compute_hausdorff_distance(
                prediction, label, include_background=True, percentile=95, spacing=spacing
            )
        return _without_empty(values, prediction, label)


@register("metric", "ComputeAverageSurfaceDistance")
class ComputeAverageSurfaceDistance(SegmentationMetric):
    """Average surface distance of the foreground classes in mm (MONAI's `compute_average_surface_distance`:
    from the prediction's surface to the ground truth's), averaged over cases then classes."""

    default_name = "surface_distance"
    needs = ("scipy.ndimage",)
    symmetric = False

    def score(self, prediction: torch.Tensor, label: torch.Tensor, spacing: Any) -> torch.Tensor:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = compute_average_surface_distance(
                prediction, label, include_background=True, symmetric=self.symmetric, spacing=spacing
            )
        return _without_empty(values, prediction, label)
