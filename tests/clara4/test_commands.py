"""evaluate, infer, export, --dry-run and --set on a Clara 4.x MMAR; what cannot run is exit 3 naming file and key."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest
import torch

from tests.clara4.conftest import SEGRESNET, UNET
from tests.conftest import write_json
from tests.test_cli import invoke, invoke_streams


def _copy(trained: dict[str, Any], tmp_path: Path) -> Path:
    """The trained MMAR, copied: each test writes its own outputs."""
    return Path(shutil.copytree(trained["mmar"], tmp_path / "mmar"))


def test_evaluate_scores_the_checkpoint_and_metrics_saver_reports(
    trained: dict[str, Any], tmp_path: Path
) -> None:
    mmar = _copy(trained, tmp_path)
    code, out, err = invoke_streams(
        "evaluate", "-m", str(mmar), "-c", "config/config_validation.json", "--json"
    )
    assert code == 0, out + err
    metrics = json.loads(out)["metrics"]
    assert 0.0 <= metrics["val_mean_dice"] <= 1.0 and "val_acc" in metrics
    assert (mmar / "eval" / "metrics.csv").read_text().startswith("val_mean_dice")
    assert (mmar / "eval" / "val_mean_dice_raw.csv").is_file()


def test_infer_writes_nifti_that_overlays_its_input(trained: dict[str, Any], tmp_path: Path) -> None:
    mmar = _copy(trained, tmp_path)
    code, output = invoke("infer", "-m", str(mmar), "-c", "config/config_inference.json")
    assert code == 0, output
    written = sorted((mmar / "infer").rglob("*_seg.nii.gz"))
    datalist = json.loads(
        Path(json.loads((mmar / "config" / "environment.json").read_text())["DATASET_JSON"]).read_text()
    )
    assert len(written) == len(datalist["validation"]) == 1
    source = nib.load(
        Path(json.loads((mmar / "config" / "environment.json").read_text())["DATA_ROOT"])
        / datalist["validation"][0]["image"]
    )
    prediction = nib.load(written[0])
    assert prediction.shape[:3] == source.shape
    np.testing.assert_allclose(prediction.affine, source.affine, atol=1e-4)
    assert set(np.unique(np.asarray(prediction.dataobj))) <= {0, 1}


def test_export_writes_verified_torchscript_and_onnx(trained: dict[str, Any], tmp_path: Path) -> None:
    mmar = _copy(trained, tmp_path)
    code, out, err = invoke_streams("export", "-m", str(mmar), "-c", "config/config_train.json", "--json")
    assert code == 0, out + err
    artefacts = {Path(a["path"]).name: a for a in json.loads(out)["artefacts"]}
    assert {"model.ts", "model.onnx"} <= set(artefacts)
    assert all(a["checks"] for a in artefacts.values())  # each compared with PyTorch
    assert (mmar / "models" / "model.onnx").is_file()


def test_dry_run_builds_everything_and_trains_nothing(mmar4: Path) -> None:
    code, out, err = invoke_streams(
        "train", "-m", str(mmar4), "-c", "config/config_train.json", "--dry-run", "--json"
    )
    assert code == 0, out + err
    plan = json.loads(out)
    assert {"train.trainer", "validate.evaluator", "train.handlers"} <= set(plan["components"])
    assert plan["start"] == "starts fresh"
    assert not (mmar4 / "models").exists()  # no checkpoint, no TensorBoard event file
    code, output = invoke("evaluate", "-m", str(mmar4), "-c", "config/config_validation.json", "--dry-run")
    assert code == 3, output  # as the real run would: nothing trained yet to load
    assert (
        "config/config_validation.json: handlers[0].args: load_path" in output and "is not a file" in output
    )


def test_set_reaches_a_component_and_a_wrong_name_gets_did_you_mean(mmar4: Path) -> None:
    command = ("train", "-m", str(mmar4), "-c", "config/config_train.json", "--dry-run")
    code, output = invoke(*command, "--set", "train.model.name=UNett")
    assert code == 3, output
    assert "config/config_train.json: train.model.name" in output and "did you mean 'UNet'" in output
    code, output = invoke(*command, "--set", "validate.inferer.args.roi_size=[16,16,8]")
    assert code == 0, output


def _edited(mmar: Path, edit: Any) -> tuple[int, str]:
    path = mmar / "config" / "config_train.json"
    config = json.loads(path.read_text())
    edit(config)
    write_json(path, config)
    return invoke("train", "-m", str(mmar), "-c", "config/config_train.json", "--dry-run")


def test_bad_names_and_references_are_exit_3_naming_the_key(mmar4: Path) -> None:
    code, output = _edited(mmar4, lambda c: c["train"]["pre_transforms"][0].update(name="LoadImagedd"))
    assert code == 3 and "train.pre_transforms[0].name" in output and "did you mean 'LoadImaged'" in output
    code, output = _edited(
        mmar4,
        lambda c: (
            c["train"]["pre_transforms"][0].update(name="LoadImaged")
            or c["train"]["optimizer"]["args"].update(params="#@modle.parameters()")
        ),
    )
    assert code == 3 and "train.optimizer" in output and "did you mean 'model'" in output
    assert "Traceback" not in output


def test_a_reference_cycle_names_its_keys(mmar4: Path) -> None:
    def cycle(config: dict[str, Any]) -> None:
        config["train"]["optimizer"]["args"]["params"] = "#@lr_scheduler.get_last_lr()"

    code, output = _edited(mmar4, cycle)
    assert code == 3, output
    assert "cycle" in output and "train.optimizer" in output and "train.lr_scheduler" in output


def test_a_federated_config_is_refused_up_front(mmar4: Path) -> None:
    write_json(
        mmar4 / "config" / "config_fed_client.json",
        {"client": {"outbound_filters": []}, "train": {"trainer": {"name": "SupervisedTrainer"}}},
    )
    code, output = invoke("train", "-m", str(mmar4), "-c", "config/config_fed_client.json")
    assert code == 3, output
    assert "federated" in output and "config_fed_client.json" in output


def test_a_hostile_expression_runs_nothing_and_names_its_key(mmar4: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran"

    def hostile(config: dict[str, Any]) -> None:
        config["train"]["optimizer"]["args"]["params"] = f"#__import__('os').system('touch {marker}')"

    code, output = _edited(mmar4, hostile)
    assert code == 3, output
    assert "train.optimizer.args.params" in output and not marker.exists()


def test_checkpoint_loader_fine_tunes_strictly_from_a_model_file(trained: dict[str, Any]) -> None:
    from monai.networks.nets import SegResNet, UNet

    from clara_tlt.engines.clara4.handlers import CheckpointLoader
    from clara_tlt.errors import ConfigError

    model_file = trained["mmar"] / "models" / "model.pt"
    args = UNET["args"] | {"spatial_dims": 3}
    del args["dimensions"]
    network = UNet(**args)
    CheckpointLoader(str(model_file), {"model": network}).load()
    saved = torch.load(model_file, weights_only=True)["model"]
    assert all(torch.equal(saved[k], v) for k, v in network.state_dict().items())
    with pytest.raises(ConfigError, match="does not fit this network"):
        CheckpointLoader(str(model_file), {"model": SegResNet(**SEGRESNET["args"])}).load()
    with pytest.raises(ConfigError, match="is not a file"):
        CheckpointLoader(str(model_file.with_name("absent.pt")), {"model": network})


def test_the_41_form_with_explicit_references_builds(mmar4: Path) -> None:
    def explicit(config: dict[str, Any]) -> None:
        validate = config["validate"]
        metrics = validate.pop("metrics")
        validate["key_metric"] = {k: v for k, v in metrics[0].items() if k != "is_key_metric"}
        validate["additional_metrics"] = metrics[1:]
        validate["evaluator"]["args"] = {
            "device": "cuda",  # what a GPU config writes: the run's own device is used
            "val_data_loader": "@dataloader",
            "network": "@model",
            "inferer": "@inferer",
            "postprocessing": "@post_transforms",
            "key_val_metric": "@key_metric",
            "additional_metrics": "@additional_metrics",
            "val_handlers": "@handlers",
        }

    code, output = _edited(mmar4, explicit)
    assert code == 0, output
    assert "validate.key_metric" in output
