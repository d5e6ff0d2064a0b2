"""A bad transform argument in a config is the user's mistake: ConfigError (exit 3) naming the file, the key
path and the argument, never a bare ValueError (which the component factory treats as our bug, exit 1)."""

from __future__ import annotations

from typing import Any

import pytest

from clara_tlt.errors import ConfigError
from clara_tlt.factory.registry import build

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


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("ScaleIntensityRange", {"a_min": "1"}, r"a_min: a_min must be a number, got '1'"),
        ("ScaleIntensityRange", {"clip": "yes"}, r"clip: clip must be true or false, got 'yes'"),
        ("FastCropByPosNegRatio", {"size": [96, "96", 96]}, r"size: size must be a list of integers"),
        (
            "ScaleToShape",
            {"target_shape": 256},
            r"target_shape: target_shape must be a list of integers or null",
        ),
    ],
)
def test_argument_types_are_checked_against_the_constructor(
    name: str, args: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=r"test\.json: pre_transforms\[0\]\.args\." + message):
        t(name, fields="image", **args)


@pytest.mark.parametrize("synonym", ["fields", "field", "applied_key", "applied_keys"])
def test_fields_of_the_wrong_type_are_refused_under_every_name(synonym: str) -> None:
    with pytest.raises(ConfigError, match=rf"{synonym} must be a string or a list of strings or null, got 3"):
        t("ConvertToChannelsFirst", **{synonym: 3})


def test_an_integer_where_a_number_is_hinted_is_accepted() -> None:
    scale = t("ScaleIntensityRange", fields="image", a_min=-57, a_max=164, b_min=0, b_max=1, clip=True)
    assert callable(scale)


def test_add_gaussian_noise_takes_clara_31_variance() -> None:
    where = {"file": "c.json", "key_path": "train.pre_transforms[0]"}
    noise = build(
        {"name": "AddGaussianNoise", "args": {"fields": "image", "variance": 0.25}}, "transform", **where
    )
    assert noise.std == pytest.approx(0.5)
    with pytest.raises(ConfigError, match="std or variance"):
        build(
            {"name": "AddGaussianNoise", "args": {"fields": "image", "variance": 0.25, "std": 1.0}},
            "transform",
            **where,
        )


def test_add_extreme_points_channel_takes_clara_31_permutation() -> None:
    spec = {"name": "AddExtremePointsChannel", "args": {"permutation": 2}}
    assert build(spec, "transform", file="c.json", key_path="t").pert == 2.0
    with pytest.raises(ConfigError, match=r"pert .* or permutation"):
        build(
            {"name": "AddExtremePointsChannel", "args": {"permutation": 2, "pert": 1}},
            "transform",
            file="c.json",
            key_path="t",
        )
