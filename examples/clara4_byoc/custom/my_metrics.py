"""A custom metric (Clara Train 4.x BYOC): a MONAI metric handler on Ignite, used in a `metrics` list as
`{"path": "my_metrics.ForegroundDice", "log_label": "val_fg_dice", "is_key_metric": true, "args": {...}}`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from monai.handlers import IgniteMetricHandler
from monai.metrics import DiceMetric


class ForegroundDice(IgniteMetricHandler):
    """Mean Dice over the foreground classes (background left out), from one-hot `pred` and `label`."""

    def __init__(self, output_transform: Callable[[Any], Any] = lambda x: x):
        super().__init__(metric_fn=DiceMetric(include_background=False), output_transform=output_transform)
