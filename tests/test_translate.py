"""AIAA and Deploy operator configs translated into the standard sections; the MMAR's code folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clara_tlt.config import load_config
from clara_tlt.config.loader import ResolvedConfig
from clara_tlt.config.mmar import code_folders
from clara_tlt.config.translate import (
    POINTS_ON_GRID,
    SERVED_MODEL_LOADER,
    WINDOW_FROM_MODEL,
    aiaa_sections,
    operator_sections,
)
from clara_tlt.errors import ConfigError, UsageError
from tests.conftest import write_json


@pytest.fixture
def aiaa(seed_configs: Path) -> dict:
    return json.loads((seed_configs / "config_aiaa_spleen.json").read_text())


def test_the_seed_aiaa_config_becomes_a_window_inferer_of_the_given_model(aiaa: dict) -> None:
    sections = aiaa_sections(aiaa, file="config_aiaa.json", model_path="models/model.pt")
    assert sections["inferer"] == {
        "name": "ScanWindowInferer",
        "args": {"roi_size": [160, 160, 160], "batch_size": 1},
    }
    assert sections["model_loader"] == {"name": "ModelLoader", "args": {"model_file_path": "models/model.pt"}}
    assert sections["pre_transforms"] == aiaa["pre_transforms"] and sections["writer"] == aiaa["writer"]


def test_an_annotation_model_gets_the_points_channel_once(aiaa: dict) -> None:
    aiaa["type"] = "annotation"
    added = aiaa_sections(aiaa, file="c.json", model_path="m.pt")["pre_transforms"][-2:]
    assert added[0] == {"path": POINTS_ON_GRID} and added[1]["name"] == "AddExtremePointsChannel"
    aiaa["pre_transforms"].append({"name": "transforms.AddExtremePointsChannel", "args": {}})
    assert aiaa_sections(aiaa, file="c.json", model_path="m.pt")["pre_transforms"] == aiaa["pre_transforms"]


def test_aiaa_model_and_window_come_from_the_config_or_the_served_model(aiaa: dict) -> None:
    with pytest.raises(UsageError, match="--model_save_path"):
        aiaa_sections(aiaa, file="c.json", model_path=None)
    del aiaa["inference"]["args"]["roi"]
    with pytest.raises(ConfigError, match="scanning_window needs 'roi'") as error:
        aiaa_sections(aiaa, file="c.json", model_path="m.pt")
    assert error.value.key_path == "inference.args.roi"
    aiaa["inference"]["args"]["model_name"] = "spleen"
    sections = aiaa_sections(aiaa, file="c.json", model_path=None)
    assert sections["model_loader"]["path"] == SERVED_MODEL_LOADER
    assert sections[WINDOW_FROM_MODEL] == {"batch_size": 1} and "inferer" not in sections


def test_the_operator_config_names_a_served_model_or_a_file_beside_it(tmp_path: Path) -> None:
    inferer = {
        "name": "TRTISScanWindowInferer",
        "args": {"model_name": "spleen", "port": 8000, "batch_size": 2},
    }
    served = {"inferer": inferer, "model_loader": {"name": "TRTISModelLoader", "args": {}}, "writers": [{}]}
    sections = operator_sections(served, file="config_inference.json", folder=tmp_path)
    assert sections["model_loader"] == {
        "path": SERVED_MODEL_LOADER,
        "args": {"server": {"model_name": "spleen", "port": 8000}},
    }
    assert sections[WINDOW_FROM_MODEL] == {"batch_size": 2} and "writers" not in sections

    (tmp_path / "model.ts").write_bytes(b"")
    local = {
        "inferer": {"name": "TRTISScanWindowInferer", "args": {"roi_size": [16, 16, 16]}},
        "model_loader": {"name": "ModelLoader", "args": {"model_file_path": "model.ts"}},
    }
    sections = operator_sections(local, file="config_inference.json", folder=tmp_path)
    assert sections["model_loader"]["args"]["model_file_path"] == str(tmp_path / "model.ts")
    assert sections["inferer"] == {"name": "ScanWindowInferer", "args": {"roi_size": [16, 16, 16]}}
    del local["inferer"]["args"]["roi_size"]
    with pytest.raises(ConfigError, match="needs 'roi_size'"):
        operator_sections(local, file="config_inference.json", folder=tmp_path)


def test_code_is_imported_from_the_mmar_folders_unless_a_translation_names_its_own(tmp_path: Path) -> None:
    config = load_config(write_json(tmp_path / "config" / "c.json", {"epochs": 1}), mmar_root=tmp_path)
    assert (
        config.search_dirs
        == code_folders(tmp_path.resolve())
        == (tmp_path.resolve() / "custom", tmp_path.resolve() / "lib")
    )
    assert ResolvedConfig(data={}, variables={}, file="c.json", code_dirs=(tmp_path,)).search_dirs == (
        tmp_path,
    )
    assert ResolvedConfig(data={}, variables={}, file="c.json").search_dirs == ()
