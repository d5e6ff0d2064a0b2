"""Clara Train 4.x bring-your-own-components: the MMAR's custom/ code named by `path`, as the 4.0/4.1 BYOC page
writes it ("path": "my_model.Model", custom/ on PYTHONPATH), trains, evaluates, infers and exports; a model file
alone never imports it."""

from __future__ import annotations

import copy
import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.clara4.conftest import inference_config, train_config, validation_config, write_mmar
from tests.conftest import write_json
from tests.test_cli import invoke, invoke_streams

CUSTOM = Path(__file__).parents[2] / "examples" / "clara4_byoc" / "custom"
MODULES = [p.stem for p in CUSTOM.glob("*.py")]
NETWORK = {"path": "my_network.TinySegNet", "args": {"in_channels": 1, "out_channels": 2, "features": 4}}
CLIP = {"path": "my_transforms.ClipAndScaled", "args": {"keys": "image", "a_min": -100, "a_max": 200}}

FOREGROUND_DICE = {
    "path": "my_metrics.ForegroundDice",
    "log_label": "val_fg_dice",
    "args": {"output_transform": "#monai.handlers.from_engine(['pred', 'label'])"},
}


def _custom(transforms: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The transforms with ScaleIntensityRanged replaced by the custom ClipAndScaled."""
    return [copy.deepcopy(CLIP) if t.get("name") == "ScaleIntensityRanged" else t for t in transforms]


def _byoc_mmar(root: Path, datalist: Path, ce_weight: float = 0.5) -> Path:
    """The fixture MMAR with custom/ code for its network, intensity transform, loss, trainer and one handler."""
    mmar = write_mmar(root, datalist, NETWORK)
    shutil.copytree(CUSTOM, mmar / "custom", ignore=shutil.ignore_patterns("__pycache__"))
    train = train_config(NETWORK)
    train["epochs"] = 1
    train["train"]["loss"] = {"path": "my_loss.WeightedDiceCE", "args": {"ce_weight": ce_weight}}
    train["train"]["trainer"] = {"path": "my_trainer.GuardedTrainer", "args": {"max_epochs": "{epochs}"}}
    train["train"]["handlers"].append(
        {"path": "my_handlers.EpochLogger", "args": {"log_file": "{MMAR_CKPT_DIR}/epochs.txt"}}
    )
    train["validate"]["metrics"].append(FOREGROUND_DICE)
    for section in ("train", "validate"):
        train[section]["pre_transforms"] = _custom(train[section]["pre_transforms"])
    write_json(mmar / "config" / "config_train.json", train)
    validation = validation_config(NETWORK)
    validation["pre_transforms"] = _custom(validation["pre_transforms"])
    validation["metrics"].append(FOREGROUND_DICE)
    write_json(mmar / "config" / "config_validation.json", validation)
    inference = inference_config(NETWORK)
    inference["pre_transforms"] = _custom(inference["pre_transforms"])
    write_json(mmar / "config" / "config_inference.json", inference)
    return mmar


def _forget_custom_code() -> None:
    """Drop the custom modules and code folders this process imported, as a new command starts without them."""
    for name in MODULES:
        sys.modules.pop(name, None)
    sys.path[:] = [p for p in sys.path if not (Path(p) / "my_network.py").is_file()]


@pytest.fixture(scope="module")
def byoc(
    tmp_path_factory: pytest.TempPathFactory, synthetic_dataset: Path
) -> Iterator[tuple[Path, int, str]]:
    """The BYOC MMAR trained for one epoch: (MMAR, exit code, output)."""
    mmar = _byoc_mmar(tmp_path_factory.mktemp("byoc") / "mmar", synthetic_dataset)
    code, output = invoke("train", "-m", str(mmar), "-c", "config/config_train.json")
    yield mmar, code, output
    _forget_custom_code()


def test_custom_network_loss_transform_and_handler_train(byoc: tuple[Path, int, str]) -> None:
    mmar, code, output = byoc
    assert code == 0, output
    assert (mmar / "models" / "model.pt").is_file() and (mmar / "models" / "model_final.pt").is_file()
    assert (mmar / "models" / "epochs.txt").read_text().startswith("epoch 1 loss ")


def test_the_custom_trainer_runs_the_iterations(tmp_path: Path, synthetic_dataset: Path) -> None:
    """GuardedTrainer (extending SupervisedTrainer) stops at a loss that is not finite, as its code says."""
    mmar = _byoc_mmar(tmp_path / "mmar", synthetic_dataset, ce_weight=float("nan"))
    code, output = invoke("train", "-m", str(mmar), "-c", "config/config_train.json")
    _forget_custom_code()
    assert code == 1, output
    assert "FloatingPointError: loss is nan at iteration 1" in output


def test_custom_components_evaluate_and_infer(byoc: tuple[Path, int, str]) -> None:
    mmar = byoc[0]
    code, out, err = invoke_streams(
        "evaluate", "-m", str(mmar), "-c", "config/config_validation.json", "--json"
    )
    assert code == 0, out + err
    metrics = json.loads(out)["metrics"]
    assert 0.0 <= metrics["val_mean_dice"] <= 1.0
    assert metrics["val_fg_dice"] == pytest.approx(metrics["val_mean_dice"])  # both leave out the background
    code, output = invoke("infer", "-m", str(mmar), "-c", "config/config_inference.json")
    assert code == 0, output
    assert len(list((mmar / "infer").rglob("*_seg.nii.gz"))) == 1


def test_custom_network_exports_verified(byoc: tuple[Path, int, str]) -> None:
    mmar = byoc[0]
    code, out, err = invoke_streams("export", "-m", str(mmar), "-c", "config/config_train.json", "--json")
    assert code == 0, out + err
    artefacts = {Path(a["path"]).name: a for a in json.loads(out)["artefacts"]}
    assert {"model.ts", "model.onnx"} <= set(artefacts)
    assert all(a["checks"] for a in artefacts.values())


def test_a_model_file_never_imports_code_and_both_ways_out_work(
    byoc: tuple[Path, int, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model file copied into an MMAR without custom/: its train_conf's `path` is refused (exit 3), and what
    the message offers works: the config by -c with the code on PYTHONPATH, or the code in custom/."""
    mmar, fresh = byoc[0], tmp_path / "fresh"
    shutil.copytree(mmar, fresh, ignore=shutil.ignore_patterns("custom", "*.ts", "*.onnx"))
    _forget_custom_code()
    code, output = invoke("export", "-m", str(fresh))
    assert code == 3, output
    assert "model.pt: train_conf.train.model.path" in output and "outside the MMAR's code folders" in output
    assert "Give -c CONFIG" in output and "put the module in the MMAR's custom/ folder" in output
    monkeypatch.syspath_prepend(str(mmar / "custom"))  # PYTHONPATH=$MMAR_ROOT/custom, as Clara's set_env.sh
    code, output = invoke("export", "-m", str(fresh), "-c", "config/config_train.json")
    assert code == 0, output
    _forget_custom_code()
    shutil.copytree(mmar / "custom", fresh / "custom")
    code, output = invoke("export", "-m", str(fresh))
    assert code == 0, output
    assert (fresh / "models" / "model.ts").is_file()


def test_a_model_file_naming_code_outside_custom_is_refused(
    byoc: tuple[Path, int, str], tmp_path: Path
) -> None:
    mmar = Path(shutil.copytree(byoc[0], tmp_path / "mmar"))
    saved = torch.load(mmar / "models" / "model.pt", weights_only=True)
    saved["train_conf"]["train"]["model"]["path"] = "torch.nn.Conv3d"
    torch.save(saved, mmar / "models" / "model.pt")
    code, output = invoke("export", "-m", str(mmar))
    assert code == 3, output
    assert "module 'torch.nn' outside the MMAR's code folders" in output and "a model file is data" in output


def test_a_path_through_the_custom_folder_says_the_path_that_works(
    tmp_path: Path, synthetic_dataset: Path
) -> None:
    """custom/ is itself on the import path, as Clara's set_env.sh put it: "custom.my_network.TinySegNet" is
    exit 3 giving "my_network.TinySegNet", which runs."""
    mmar = _byoc_mmar(tmp_path / "mmar", synthetic_dataset)
    config = mmar / "config" / "config_train.json"
    train = json.loads(config.read_text())
    train["train"]["model"]["path"] = "custom.my_network.TinySegNet"
    write_json(config, train)
    command = ("train", "-m", str(mmar), "-c", "config/config_train.json", "--dry-run")
    code, output = invoke(*command)
    assert code == 3, output
    assert "train.model.path" in output and 'write "path": "my_network.TinySegNet"' in output
    code, output = invoke(*command, "--set", "train.model.path=my_network.TinySegNet")
    _forget_custom_code()
    assert code == 0, output
