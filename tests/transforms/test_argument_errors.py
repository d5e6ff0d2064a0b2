"""A bad transform argument in a config is the user's mistake: ConfigError (exit 3) naming the file, the key
path and the argument, never a bare ValueError (which the component factory treats as our bug, exit 1)."""

from __future__ import annotations

from typing import Any

import pytest

from clara_tlt.components import build
from clara_tlt.errors import ConfigError

WHERE = r"test\.json: pre_transforms\[0\]\.args: "


def t(name: str, **args: Any) -> Any:
    return build({"name": name, "args": args}, "transform", file="test.json", key_path="pre_transforms[0]")


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("ScaleIntensityRange", {"a_min": 5, "a_max": 5}, r"a_max must differ from a_min \(both are 5\)"),
        ("ScaleIntensityOscillation", {"magnitude": 0}, r"magnitude must be greater than zero, e\.g\. 0\.1"),
        (
            "AdjustContrast",
            {"gamma_range": [1.5, 0.7]},
            r"gamma_range must be \[low, high\].*got \[1\.5, 0\.7\]",
        ),
        ("AdjustContrast", {"gamma_range": [0.7]}, r"gamma_range must be \[low, high\]"),
        (
            "FastCropByPosNegRatio",
            {"pos": 0, "neg": 0},
            r"pos and neg must be non-negative and not both zero",
        ),
        ("RepeatChannel", {"repeat_times": 0}, r"repeat_times \(TLT: repeat\) must be a positive integer"),
        ("SplitBasedOnLabel", {"label_names": []}, r"label_names must list one new field name per label"),
        ("ScaleByResolution", {"target_resolution": [1, 0, 1]}, r"target_resolution must be positive"),
        ("ScaleToShape", {}, r"target_shape \(TLT: output_shape\) is required"),
        (
            "NPRandomZoom3D",
            {"lower_limits": [1.2], "upper_limits": [1.1]},
            r"lower_limits and upper_limits must be .*lower <= upper",
        ),
    ],
)
def test_bad_argument_values_are_config_errors(name: str, args: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=WHERE + message):
        t(name, fields="image", **args)
