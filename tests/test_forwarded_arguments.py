"""Arguments a component passes on with `**kwargs` (a metric's reporting arguments to `ClaraMetric`, an
optimizer's Clara arguments to `torch_arguments`, a combined loss's to `Dice`, a crop's to its base crop) are
accepted, checked and reported as if the component declared them itself."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from clara_tlt.errors import ConfigError
from clara_tlt.factory.registry import build

WHERE = {"file": "config_train.json", "key_path": "train.x"}


def test_a_misspelt_forwarded_argument_gets_did_you_mean_the_file_the_key_and_every_accepted_name() -> None:
    with pytest.raises(ConfigError) as info:
        build({"name": "ComputeAUC", "args": {"do_sumary": False}}, "metric", **WHERE)
    message = str(info.value)
    assert message.startswith(
        "config_train.json: train.x.args.do_sumary: metric 'ComputeAUC' has no argument 'do_sumary'; "
        "did you mean 'do_summary'?"
    )
    accepted = message.split("Accepted arguments: ")[1].split(", ")
    assert accepted[:3] == ["name", "field", "label_field"]  # its own first, then what it passes on
    assert {"is_key_metric", "report_path", "do_summary", "do_print"} <= set(accepted)
    assert info.value.exit_code == 3


@pytest.mark.parametrize(
    ("kind", "name", "args", "expected"),
    [
        (
            "metric",
            "ComputeAverage",
            {"do_print": "no"},
            r"train\.x\.args\.do_print: do_print must be true or false, got 'no'",
        ),
        (
            "optimizer",
            "Adam",
            {"learning_rate": "0.1"},
            r"train\.x\.args\.learning_rate: learning_rate must be a number or null",
        ),
        (
            "loss",
            "FocalDice",
            {"squared_pred": 1},
            r"train\.x\.args\.squared_pred: squared_pred must be true or false, got 1",
        ),
        (
            "transform",
            "FastPosNegRatioCropROI",
            {"size": "96"},
            r"train\.x\.args\.size: size must be a list of integers",
        ),
    ],
)
def test_a_forwarded_argument_of_the_wrong_type_is_refused_as_its_base_declares_it(
    kind: str, name: str, args: dict[str, object], expected: str
) -> None:
    params = [torch.nn.Parameter(torch.ones(1))]  # what the workflow injects into an optimizer
    with pytest.raises(ConfigError, match=expected):
        build({"name": name, "args": args}, kind, inject={"params": params}, **WHERE)


def test_forwarded_arguments_reach_the_base_and_misspellings_of_them_are_caught() -> None:
    metric = build(
        {
            "name": "ComputeMulticlassAverage",
            "args": {"is_key_metric": True, "report_path": "r", "do_print": False},
        },
        "metric",
        **WHERE,
    )
    assert (metric.is_key_metric, metric.report_path, metric.do_print, metric.do_summary) == (
        True,
        "r",
        False,
        True,
    )
    params = [torch.nn.Parameter(torch.ones(1))]
    adam = build(
        {"name": "Adam", "args": {"learning_rate": 0.5, "weight_decay": 0.1}},
        "optimizer",
        inject={"params": params},
        **WHERE,
    )
    assert adam.defaults["lr"] == 0.5 and adam.defaults["weight_decay"] == 0.1
    with pytest.raises(ConfigError, match=r"'learning_rat'; did you mean 'learning_rate'"):
        build(
            {"name": "Momentum", "args": {"learning_rat": 0.1}},
            "optimizer",
            inject={"params": params},
            **WHERE,
        )
    crop = build(
        {"name": "CropByPosNegRatioLabelOnly", "args": {"size": [4, 4, 4], "batch_size": 2}},
        "transform",
        **WHERE,
    )
    assert (crop.fields, crop.size, crop.batch_size) == (("label",), [4, 4, 4], 2)
    with pytest.raises(
        ConfigError, match=r"has no argument 'fields'.* Accepted arguments: label_field, size"
    ):
        build({"name": "CropByPosNegRatioLabelOnly", "args": {"fields": "image"}}, "transform", **WHERE)


def test_a_custom_class_taking_kwargs_is_left_to_itself(tmp_path: Path) -> None:
    custom = tmp_path / "custom"
    custom.mkdir()
    (custom / "forwarding_for_test.py").write_text(
        "class Base:\n    def __init__(self, *, size=1):\n        self.size = size\n"
        "class Loose(Base):\n    def __init__(self, **kwargs):\n        super().__init__()\n        self.kwargs = kwargs\n"
    )
    spec = {"path": "forwarding_for_test.Loose", "args": {"anything": 2}}
    assert build(spec, "loss", search_dirs=[custom], **WHERE).kwargs == {"anything": 2}
