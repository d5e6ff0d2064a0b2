"""examples/clara4_spleen, a Clara 4.x MMAR in the documentation's forms, reads as 4.x: its files resolve with
environment.json and `--set`, every `@`/`#`/lambda resolves, every name modernises to a MONAI 1.6 class that
takes its arguments. (Running it is the 4.x engine's test, tests/clara4/.)"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from clara_tlt.config import load_config, parse_overrides
from clara_tlt.config.clara4 import (
    CLARA4_SLOTS,
    SPEC_KEYS,
    is_clara4,
    modernise,
    references_in,
    resolve_value,
)
from clara_tlt.config.keypath import child
from tests.conftest import REPO

EXAMPLE = REPO / "examples" / "clara4_spleen"
FILES = ("config_train.json", "config_validation.json", "config_inference.json")
TINY = ["roi_size=[32,32,32]", "num_workers=0"]  # every file's; training's also its crops and epochs
TINY_TRAINING = [*TINY, "crop_size=[32,32,32]", "epochs=1"]
# Where the classes a 4.x config names live, looked up in this order (Accuracy is Ignite's, Adam torch's).
MODULES = (
    "monai.networks.nets",
    "monai.transforms",
    "monai.losses",
    "monai.handlers",
    "monai.inferers",
    "monai.data",
    "monai.engines",
    "torch.optim",
    "torch.optim.lr_scheduler",
    "ignite.metrics",
)


def resolved(file: str) -> dict[str, Any]:
    config = load_config(
        f"config/{file}",
        environment_path="config/environment.json",
        mmar_root=EXAMPLE,
        overrides=parse_overrides(TINY_TRAINING if file == "config_train.json" else TINY),
    )
    return config.data


def slots(config: dict[str, Any], file: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(key path, slot, spec) for every component of the config, in its sections or at its top level."""
    places = [(name, config[name]) for name in ("train", "validate") if name in config] or [("", config)]
    for section, place in places:
        for slot in CLARA4_SLOTS:
            specs = place.get(slot, [])
            for index, spec in enumerate(specs if isinstance(specs, list) else [specs]):
                path = child(child(section, slot), index) if isinstance(specs, list) else child(section, slot)
                yield path, slot, spec


def monai_class(name: str) -> Any:
    for module in MODULES:
        found = getattr(importlib.import_module(module), name, None)
        if inspect.isclass(found):
            return found
    raise AssertionError(f"{name} is in none of {MODULES}")


@pytest.mark.parametrize("file", FILES)
def test_each_example_file_reads_as_clara4_with_its_sizes_set_tiny(file: str) -> None:
    config = resolved(file)
    assert is_clara4(config)
    inferer = config.get("validate", config)["inferer"]
    assert inferer["args"]["roi_size"] == [32, 32, 32]


def test_the_fine_tune_switch_drops_or_keeps_the_checkpoint_loader() -> None:
    handlers = [h["name"] for h in resolved("config_train.json")["train"]["handlers"]]
    assert "CheckpointLoader" not in handlers
    config = load_config(
        "config/config_train.json",
        environment_path="config/environment.json",
        mmar_root=EXAMPLE,
        overrides=parse_overrides(["dont_load_ckpt_model=false"]),
    )
    assert config.data["train"]["handlers"][0]["name"] == "CheckpointLoader"


@pytest.mark.parametrize("file", FILES)
def test_every_reference_expression_and_lambda_resolves_against_the_configs_components(file: str) -> None:
    config = resolved(file)
    components = {slot for _, slot, _ in slots(config, file)}
    objects: dict[str, Any] = {name: object() for name in components}
    objects["model"] = torch.nn.Conv3d(1, 2, 1)
    for key_path, _, spec in slots(config, file):
        assert references_in(spec) <= components, key_path
        args = resolve_value(spec.get("args", {}), objects, file=file, key_path=child(key_path, "args"))
        for name, value in args.items():
            if isinstance(spec["args"][name], str) and spec["args"][name].startswith("lambda"):
                assert callable(value), f"{key_path}.args.{name}"
    optimizer = (
        next(spec for _, slot, spec in slots(config, file) if slot == "optimizer")
        if "train" in config
        else None
    )
    if optimizer:
        params = resolve_value(
            optimizer["args"]["params"], objects, file=file, key_path="train.optimizer.args.params"
        )
        assert [p.shape for p in params] == [p.shape for p in objects["model"].parameters()]


@pytest.mark.parametrize("file", FILES)
def test_every_name_modernises_to_a_monai_16_class_that_takes_its_arguments(file: str) -> None:
    config = resolved(file)
    for key_path, slot, spec in slots(config, file):
        modern = modernise(spec, kind=CLARA4_SLOTS[slot], file=file, key_path=key_path)
        assert set(modern) - {"name", "args"} <= SPEC_KEYS, key_path
        cls = monai_class(modern["name"])
        accepted = inspect.signature(cls).parameters
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
        unknown = set(modern.get("args", {})) - set(accepted)
        assert takes_any or not unknown, (
            f"{file}: {key_path}: {modern['name']} does not take {sorted(unknown)}"
        )


def test_the_documentation_forms_are_there_and_are_rewritten(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="clara_tlt.config.clara4")
    train = resolved("config_train.json")["train"]
    model = modernise(train["model"], kind="network", file="config_train.json", key_path="train.model")
    assert train["model"]["args"]["dimensions"] == 3 and model["args"]["spatial_dims"] == 3
    trainer = modernise(train["trainer"], kind="engine", file="config_train.json", key_path="train.trainer")
    assert trainer["args"]["postprocessing"] == "@post_transforms"
    assert "train.model.args.dimensions: dimensions → spatial_dims" in caplog.text
    assert "train.trainer.args.post_transform: post_transform → postprocessing" in caplog.text
    assert {h.get("rank") for h in train["handlers"] if h["name"].endswith("StatsHandler")} == {0}


def test_the_commands_call_clara_tlt_with_the_mmars_configs() -> None:
    commands = {path.name: path.read_text() for path in (EXAMPLE / "commands").glob("*.sh")}
    expected = {
        "train.sh": "train -m",
        "finetune.sh": "dont_load_ckpt_model=false",
        "validate.sh": "evaluate -m",
        "infer.sh": "config/config_inference.json",
        "export.sh": "export -m",
    }
    for name, text in expected.items():
        assert text in commands[name], name
    for path in FILES:
        assert (EXAMPLE / "config" / path).is_file()
    assert Path(EXAMPLE / "docs" / "README.md").is_file()


def test_a_4x_files_top_level_components_are_not_read_as_global_variables() -> None:
    config = load_config(
        "config/config_validation.json", environment_path="config/environment.json", mmar_root=EXAMPLE
    )
    assert config.global_names == ["multi_gpu", "amp", "roi_size", "channels", "cache_rate", "num_workers"]
