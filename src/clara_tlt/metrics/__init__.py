"""Clara validation metrics and aux ops (kind "metric"), on MONAI's metric functions.

Importing this package registers `ComputeAverageDice`, `ComputeHausdorffDistance95`,
`ComputeAverageSurfaceDistance`, `ComputeAUC`, `ComputeAverage`, `ComputeAccuracy`, `ComputeBinaryPreds`,
`ReduceMeanMasked`, `DiceMaskedOutput` and `ComputeDice`. The protocol every metric follows is `clara_tlt.metrics.base.Metric`.
Layer: the catalogue (tests/layers.py), beside transforms, learning, inferers, data and writers.
"""

from clara_tlt.metrics import aux_ops, classification, dice_ops, segmentation
from clara_tlt.metrics.base import CaseValues, ClaraMetric, Metric, sync_metrics

__all__ = [
    "CaseValues",
    "ClaraMetric",
    "Metric",
    "aux_ops",
    "classification",
    "dice_ops",
    "segmentation",
    "sync_metrics",
]
