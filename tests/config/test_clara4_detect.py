"""A Clara 4.x config is told from a 3.x one by its structure (engine sections, `@`/`#` arguments), never by
the names it uses: every 3.x config we hold stays 3.x, MONAI transform names or not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from clara_tlt.config.clara4 import is_clara4
from tests.catalogue.test_clara3_configs import segresnet_automl_config, unet_cached_config
from tests.catalogue.test_grammar import clara31_config
from tests.conftest import REPO, SEED_CONFIGS
from tests.engines.conftest import tiny_train_config

CLARA3_FILES = sorted(SEED_CONFIGS.glob("*.json")) + sorted(
    path for path in (REPO / "examples").glob("*/config/config_*.json") if "clara4" not in str(path)
)


@pytest.mark.parametrize("path", CLARA3_FILES, ids=lambda p: str(p.relative_to(p.parents[2])))
def test_every_clara3_config_file_we_hold_stays_clara3(path: Path) -> None:
    assert not is_clara4(json.loads(path.read_text()))


def test_the_tests_clara3_configs_stay_clara3(seed_configs: Path) -> None:
    configs = [
        tiny_train_config(seed_configs),
        clara31_config(seed_configs),
        unet_cached_config(),
        segresnet_automl_config(),
    ]
    assert not any(is_clara4(config) for config in configs)


def test_a_clara3_config_naming_monai_transforms_stays_clara3(seed_configs: Path) -> None:
    config = tiny_train_config(seed_configs)
    config["train"]["pre_transforms"][:0] = [
        {"name": "LoadImaged", "args": {"keys": ["image", "label"]}},
        {"name": "AddChanneld", "args": {"keys": ["image", "label"]}},
    ]
    assert not is_clara4(config)


TRAINER = {"name": "SupervisedTrainer", "args": {"max_epochs": 2}}


@pytest.mark.parametrize(
    "config",
    [
        {"train": {"trainer": TRAINER}},
        {"validate": {"evaluator": {"name": "SupervisedEvaluator", "args": {}}}},
        {"evaluator": {"name": "SupervisedEvaluator", "args": {}}},  # config_validation.json: sections on top
        {"train": {"optimizer": {"name": "Adam", "args": {"params": "#@model.parameters()"}}}},
        {"dataloader": {"name": "DataLoader", "args": {"dataset": "@dataset"}}},
        {"handlers": [{"name": "ValidationHandler", "args": {"validator": ["@evaluator"]}}]},
    ],
)
def test_an_engine_section_or_a_reference_in_args_makes_a_config_clara4(config: dict[str, Any]) -> None:
    assert is_clara4(config)


def test_an_at_sign_outside_args_or_not_first_is_no_reference() -> None:
    assert not is_clara4({"train": {"model": {"name": "Net", "args": {"tag": "a@b"}}, "note": "@model"}})
