"""The config grammar of seed 004: globals, environment.json, {VAR}, --set, disabled, strict JSON, error locations."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from clara_tlt.config import load_config, parse_overrides
from clara_tlt.config.slots import network_spec
from clara_tlt.errors import ConfigError, UsageError
from tests.conftest import write_json


def _config(tmp_path: Path, data: dict, env: dict | None = None) -> tuple[Path, Path | None]:
    config = write_json(tmp_path / "config" / "config_train.json", data)
    environment = write_json(tmp_path / "config" / "environment.json", env) if env is not None else None
    return config, environment


def test_whole_string_reference_keeps_type_and_embedded_becomes_text(tmp_path: Path) -> None:
    config, env = _config(
        tmp_path,
        {
            "learning_rate": 1e-4,
            "train": {
                "optimizer": {"name": "Adam", "args": {"lr": "{learning_rate}"}},
                "note": "lr={learning_rate} dir={MMAR_CKPT_DIR}/model.pt",
            },
        },
        {"MMAR_CKPT_DIR": "models"},
    )
    resolved = load_config(config, environment_path=env, mmar_root=tmp_path)
    assert resolved.data["train"]["optimizer"]["args"]["lr"] == 1e-4
    assert isinstance(resolved.data["train"]["optimizer"]["args"]["lr"], float)
    assert resolved.data["train"]["note"] == f"lr=0.0001 dir={tmp_path.resolve()}/models/model.pt"


def test_precedence_globals_then_environment_then_set(tmp_path: Path) -> None:
    config, env = _config(
        tmp_path,
        {"epochs": 100, "batch": 2, "out": ["{epochs}", "{batch}", "{DATA_ROOT}"]},
        {"epochs": 50, "DATA_ROOT": "/data/a"},
    )
    resolved = load_config(
        config, environment_path=env, overrides=parse_overrides(["epochs=7", "DATA_ROOT=/data/b"])
    )
    assert resolved.data["out"] == [7, 2, "/data/b"]
    assert resolved.get("epochs") == 7
    env_only = load_config(config, environment_path=env)
    assert env_only.data["out"] == [50, 2, "/data/a"]


def test_relative_environment_paths_resolve_against_the_mmar(tmp_path: Path) -> None:
    _config(
        tmp_path,
        {"ckpt": "{MMAR_CKPT_DIR}", "eval": "{MMAR_EVAL_OUTPUT_PATH}", "key": "{DATA_LIST_KEY}"},
        {"MMAR_CKPT_DIR": "models", "MMAR_EVAL_OUTPUT_PATH": "/abs/eval"},
    )
    resolved = load_config(
        "config/config_train.json", environment_path="config/environment.json", mmar_root=tmp_path
    )
    assert resolved.data == {
        "ckpt": str(tmp_path.resolve() / "models"),
        "eval": "/abs/eval",
        "key": "validation",
    }


def test_set_values_are_typed_and_dotted_keys_reach_nested_keys(tmp_path: Path) -> None:
    config, _ = _config(
        tmp_path,
        {
            "a": 0,
            "b": False,
            "c": None,
            "d": {"e": "x"},
            "f": "s",
            "train": {"loss": {"name": "Dice", "args": {"smooth": 1}}},
        },
    )
    overrides = parse_overrides(["a=1", "b=true", "c=[1,2]", "d.e=y", "f=1e-4", "train.loss.args.smooth=0.5"])
    data = load_config(config, overrides=overrides).data
    assert data["a"] == 1 and data["b"] is True and data["c"] == [1, 2] and data["d"] == {"e": "y"}
    assert data["f"] == 1e-4 and data["train"]["loss"]["args"]["smooth"] == 0.5
    assert load_config(config, overrides=parse_overrides(["f=hello world"])).data["f"] == "hello world"


def test_set_of_an_unknown_key_is_refused_with_did_you_mean(tmp_path: Path) -> None:
    config, _ = _config(tmp_path, {"epochs": 1, "train": {"loss": {"name": "Dice"}}})
    with pytest.raises(ConfigError, match=r"epoch.*did you mean 'epochs'"):
        load_config(config, overrides=parse_overrides(["epoch=3"]))
    with pytest.raises(ConfigError, match=r"train: --set train\.los\.name.*did you mean 'loss'"):
        load_config(config, overrides=parse_overrides(["train.los.name=x"]))
    with pytest.raises(UsageError, match="KEY=VALUE"):
        parse_overrides(["epochs"])


def test_set_defines_any_variable_the_config_refers_to_in_both_dialects(tmp_path: Path) -> None:
    model = {"name": "SegAhnet", "args": {"pretrain_weight_name": "{PRETRAIN_WEIGHTS_FILE}"}}
    config, env = _config(tmp_path, {"train": {"model": model}, "note": "{TAG}"}, env={"LOG": "{OUT}/log"})
    fixes = parse_overrides(["PRETRAIN_WEIGHTS_FILE=", "TAG=a", "OUT=/o", "MMAR_EVAL_OUTPUT_PATH=/e"])
    tlt = load_config(
        config, variables={"DATASET_JSON": "d.json"}, overrides=fixes[:2]
    )  # no environment.json
    assert tlt.data["train"]["model"]["args"]["pretrain_weight_name"] == ""  # empty: no pretrained weights
    assert tlt.data["note"] == "a"
    mmar = load_config(config, environment_path=env, mmar_root=tmp_path, overrides=fixes)
    assert mmar.variables["LOG"] == "/o/log" and mmar.variables["MMAR_EVAL_OUTPUT_PATH"] == "/e"
    with pytest.raises(ConfigError, match=r"--set PRETRAIN_WEIGHT_FILE: no such .*'PRETRAIN_WEIGHTS_FILE'"):
        load_config(config, overrides=parse_overrides(["PRETRAIN_WEIGHT_FILE=x"]))


def test_set_may_disable_any_component_but_adds_no_other_key(tmp_path: Path) -> None:
    losses = [{"name": "Dice"}, {"name": "Focal", "args": {}}]
    config, _ = _config(tmp_path, {"train": {"loss": losses}})
    loaded = load_config(config, overrides=parse_overrides(["train.loss.1.disabled=true"]))
    assert loaded.data["train"]["loss"] == [{"name": "Dice"}]
    with pytest.raises(ConfigError, match="no key 'disable' to override"):
        load_config(config, overrides=parse_overrides(["train.loss.1.disable=true"]))


def test_disabled_components_are_dropped_from_lists_and_slots(tmp_path: Path) -> None:
    config, _ = _config(
        tmp_path,
        {
            "train": {
                "pre_transforms": [
                    {"name": "A"},
                    {"name": "B", "disabled": True},
                    {"name": "C", "disabled": False},
                ],
                "lr_policy": {"name": "DecayOnStep", "disabled": True},
            }
        },
    )
    train = load_config(config).data["train"]
    assert [t["name"] for t in train["pre_transforms"]] == ["A", "C"]
    assert "lr_policy" not in train


def test_key_paths_past_disabled_items_name_the_files_index_at_every_depth(tmp_path: Path) -> None:
    """An error (its key path and any key path in its text) names each list index as the file has it, nested
    lists included; the loaded config's own indices stay what the code reads."""
    inner = [{"name": "X", "disabled": True}, {"name": "Y"}]
    pre = [{"name": "A"}, {"name": "B", "disabled": True}, {"name": "C", "args": {"transforms": inner}}]
    config, _ = _config(tmp_path, {"train": {"pre_transforms": pre}})
    loaded = load_config(config)
    assert loaded.data["train"]["pre_transforms"][1]["args"]["transforms"] == [{"name": "Y"}]
    error = ConfigError(
        "defined at train.pre_transforms[1] and train.pre_transforms[0]",
        file=loaded.file,
        key_path="train.pre_transforms[1].args.transforms[0].name",
    )
    assert str(error) == (
        f"{config}: train.pre_transforms[2].args.transforms[1].name: "
        "defined at train.pre_transforms[2] and train.pre_transforms[0]"
    )
    assert error.key_path == "train.pre_transforms[1].args.transforms[0].name"


def test_disabled_must_be_boolean(tmp_path: Path) -> None:
    config, _ = _config(tmp_path, {"train": {"pre_transforms": [{"name": "A", "disabled": "yes"}]}})
    with pytest.raises(
        ConfigError, match=r"train\.pre_transforms\[0\]\.disabled: 'disabled' must be true or false"
    ):
        load_config(config)


def test_duplicate_keys_are_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config_train.json"
    path.write_text('{"epochs": 1, "epochs": 2}')
    with pytest.raises(ConfigError, match=r"config_train\.json: duplicate key 'epochs'"):
        load_config(path)


def test_invalid_json_names_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "config_train.json"
    path.write_text('{\n  "epochs": 1,\n}')
    with pytest.raises(ConfigError, match=r"config_train\.json: invalid JSON at line 3 column 1"):
        load_config(path)


def test_unknown_variable_names_file_key_path_and_fix(tmp_path: Path) -> None:
    config, _ = _config(
        tmp_path,
        {
            "learning_rate": 1,
            "train": {
                "model": {"name": "SegAhnet", "args": {"pretrain_weight_name": "{PRETRAIN_WEIGHT_FILE}"}}
            },
        },
    )
    with pytest.raises(ConfigError) as info:
        load_config(config, variables={"PRETRAIN_WEIGHTS_FILE": ""})
    message = str(info.value)
    assert message.startswith(f"{config}: train.model.args.pretrain_weight_name: unknown variable")
    assert "did you mean 'PRETRAIN_WEIGHTS_FILE'" in message and "--set PRETRAIN_WEIGHT_FILE=" in message
    assert info.value.exit_code == 3


def test_seed_spleen_config_resolves_every_variable(spleen_mmar: Path) -> None:
    resolved = load_config(
        "config/config_train.json", environment_path="config/environment.json", mmar_root=spleen_mmar
    )
    assert not re.search(r"\{[A-Za-z_]\w*\}", json.dumps(resolved.data))
    pipeline = resolved.data["train"]["image_pipeline"]["args"]
    assert Path(pipeline["data_list_file_path"]).is_file()
    assert resolved.get("epochs") == 1250 and resolved.get("determinism")["random_seed"] == 123456


def test_the_network_is_looked_for_in_train_model_then_net_config_then_model() -> None:
    seg, dense = {"name": "SegAhnet"}, {"name": "DenseNet121"}
    assert network_spec({"train": {"model": seg}, "net_config": dense}) == (seg, "train.model")
    assert network_spec({"model": seg, "net_config": dense}) == (dense, "net_config")
    assert network_spec({"model": seg, "train": {"loss": {}}}) == (seg, "model")
    assert network_spec({"train": {"model": [seg, dense]}}) == (None, "train.model")
