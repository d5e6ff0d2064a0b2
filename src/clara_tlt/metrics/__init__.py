"""Clara validation metrics and aux ops (kind "metric"), on MONAI's metric functions.

Importing this package registers `ComputeAverageDice`, `ComputeHausdorffDistance95`,
`ComputeAverageSurfaceDistance`, `ComputeAUC`, `ComputeAverage`, `ComputeAccuracy` and
`ComputeBinaryPreds`. The protocol every metric follows is `clara_tlt.metrics.base.Metric`.
"""

from clara_tlt.metrics import aux_ops, classification, segmentation
from clara_tlt.metrics.base import CaseValues, ClaraMetric, Metric, sync_metrics

__all__ = ["CaseValues", "ClaraMetric", "Metric", "aux_ops", "classification", "segmentation", "sync_metrics"]
