"""Clara 4.x `@` references, `#` expressions and lambda strings: what a config may write resolves to the
objects and callables it names; every other form is exit 3 naming the key and the part, before anything runs."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from clara_tlt.config.clara4 import references_in, resolve_value
from clara_tlt.errors import ConfigError

FILE = "config_train.json"


def resolve(value: Any, objects: dict[str, Any] | None = None, key_path: str = "train.x") -> Any:
    return resolve_value(value, objects or {}, file=FILE, key_path=key_path)


def test_references_name_the_components_a_value_depends_on() -> None:
    value = {
        "params": "#@model.parameters()",
        "handlers": ["@evaluator", {"validator": "@evaluator"}],
        "output_transform": "lambda x: x['loss']",
        "lr": 1e-4,
        "tag": "train@loss",
    }
    assert references_in(value) == {"model", "evaluator"}
    assert (
        references_in("#monai.handlers.from_engine(['@pred'])") == set()
    )  # a string argument, not a reference


def test_references_and_method_calls_resolve_to_the_objects_in_nested_args() -> None:
    model = torch.nn.Linear(2, 1)
    args = {"params": "#@model.parameters()", "lr": 0.1, "nets": ["@model", {"n": "@model"}]}
    resolved = resolve(args, {"model": model})
    assert [p.shape for p in resolved["params"]] == [torch.Size([1, 2]), torch.Size([1])]
    assert resolved["nets"][0] is model and resolved["nets"][1]["n"] is model and resolved["lr"] == 0.1
    assert resolve("#@model.weight.shape", {"model": model}) == torch.Size([1, 2])
    assert resolve("#@model.train(False)", {"model": model}) is model and not model.training


def test_a_registered_function_is_called_with_literal_arguments() -> None:
    transform = resolve('#monai.handlers.from_engine(["pred", "label"])')
    batch = [{"pred": 1, "label": 2}, {"pred": 3, "label": 4}]
    assert transform(batch) == ([1, 3], [2, 4])


@pytest.mark.parametrize(
    ("text", "given", "expected"),
    [
        ("lambda x: x['loss']", {"loss": 0.5}, 0.5),
        ('lambda x: (x["pred"], x["label"])', {"pred": 1, "label": 2}, (1, 2)),
        ('lambda x: [x["pred"], x["label"]]', {"pred": 1, "label": 2}, [1, 2]),
        ('lambda x: x[0]["pred"]', [{"pred": 7}], 7),
        ("lambda x: x[-1]", [1, 2, 3], 3),
        ("lambda batch: batch['image_meta_dict']", {"image_meta_dict": {"a": 1}}, {"a": 1}),
        ("lambda x: None", {"loss": 1}, None),
        ("lambda x: x", 5, 5),
    ],
)
def test_a_lambda_string_becomes_a_callable_that_indexes_its_argument(
    text: str, given: Any, expected: Any
) -> None:
    function = resolve(text)
    assert function(given) == expected
    assert pickle.loads(pickle.dumps(function))(given) == expected  # DataLoader workers receive it pickled


def test_a_lambda_reads_attributes_of_its_argument() -> None:
    state = SimpleNamespace(output={"loss": 3})
    assert resolve("lambda x: x.output['loss']")(state) == 3


def test_an_unknown_reference_names_file_key_and_the_closest_component() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve({"args": {"network": ["@modle"]}}, {"model": 1, "optimizer": 2}, key_path="train.trainer")
    assert caught.value.exit_code == 3
    assert str(caught.value).startswith("config_train.json: train.trainer.args.network[0]: '@modle'")
    assert "did you mean 'model'?" in str(caught.value)
    with pytest.raises(ConfigError, match="names no component"):
        resolve("#@modle.parameters()", {"model": 1})


class Holder:
    """A component whose public attributes hold a module and a builtin (what a chain must not reach)."""

    def __init__(self) -> None:
        self.os = os
        self.opener = open


def hostile_forms(marker: Path) -> list[tuple[str, str]]:
    """(value, the part the error must name): each would create `marker` if it ran."""
    return [
        (f"#__import__('os').system('touch {marker}')", "__import__"),
        ("#@model.__class__.__subclasses__()", "__subclasses__"),
        ("lambda x: x.__globals__", "x.__globals__"),
        (f"#exec(\"open('{marker}', 'w')\")", "exec"),
        (f"lambda x: open('{marker}', 'w')", "open("),
        (f"#monai.handlers.os.system('touch {marker}')", "monai.handlers.os.system"),
        ("#monai.handlers.from_engine.__globals__", "__globals__"),
        (f"#@holder.os.system('touch {marker}')", "@holder.os"),
        (f"#@holder.opener('{marker}', 'w')", "@holder.opener"),
        (f"#@model.parameters(open('{marker}', 'w'))", "open("),
        (f"#@model.parameters(*[open('{marker}', 'w')])", "*"),
        ("#[p for p in @model.parameters()]", "[p for p in @model.parameters()]"),
        ("#@model.weight + 1", "@model.weight + 1"),
        (f"lambda x, y=open('{marker}', 'w'): x", "x, y="),
        ("lambda x: x[x['key']]", "x[x['key']]"),
        ("lambda x: y['pred']", "y"),
        ("lambda x: f'{x}'", "f'{x}'"),
        ("lambda x: (lambda: x)()", "(lambda: x)()"),
    ]


@pytest.mark.parametrize("index", range(len(hostile_forms(Path("m")))))
def test_a_hostile_form_is_refused_naming_key_and_part_and_nothing_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, index: int
) -> None:
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "ran"
    text, part = hostile_forms(marker)[index]
    objects = {"model": torch.nn.Linear(2, 1), "holder": Holder()}
    with pytest.raises(ConfigError) as caught:
        function = resolve({"output_transform": text}, objects, key_path="train.handlers[3].args")
        function["output_transform"]({"pred": 1})  # a lambda that got through would run here
    message = str(caught.value)
    assert caught.value.exit_code == 3
    assert message.startswith("config_train.json: train.handlers[3].args.output_transform: ")
    assert part in message and "A config value may be" in message
    assert not marker.exists()


def test_a_method_call_that_fails_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"train\.x: '#@model.train\(1, 2, 3\)' failed: TypeError"):
        resolve("#@model.train(1, 2, 3)", {"model": torch.nn.Linear(1, 1)})


def test_a_clara40_lambda_given_decollated_items_says_how_41_writes_it() -> None:
    function = resolve("lambda x: x['loss']", key_path="train.handlers[4].args.output_transform")
    with pytest.raises(ConfigError) as caught:
        function([{"loss": 0.5}])
    message = str(caught.value)
    assert message.startswith(
        "config_train.json: train.handlers[4].args.output_transform: 'lambda x: x['loss']'"
    )
    assert 'x[0]["key"]' in message and "from_engine" in message
    with pytest.raises(ConfigError, match="does not fit the dict"):
        resolve("lambda x: x['pred']")({"label": 1})
