"""evaluate from a user's seat: the seed-004 config's Dice equals MONAI's on the written files, the reports
seed 003 names, surface distances in mm, empty cases said as such, and the seed-003 EA eval config."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.metrics import DiceMetric, HausdorffDistanceMetric

from clara_tlt.cli.evaluate import tlt_command as tlt_evaluate
from tests.conftest import write_json
from tests.engines.conftest import UNET, tiny_train_config, write_validation_mmar
from tests.engines.test_infer import mmar_run, trained_mmar  # noqa: F401  (the fixture)
from tests.test_cli import invoke_streams


def _read(path: Path) -> torch.Tensor:
    return torch.as_tensor(np.asarray(nib.load(path).dataobj)).long()[None, None]


def test_seed_config_dice_equals_monai_on_the_written_files(trained_mmar: Path) -> None:  # noqa: F811
    code, stdout, stderr = mmar_run("evaluate", trained_mmar)
    assert code == 0, stderr
    summary = json.loads(stdout)
    eval_dir = trained_mmar / "eval"
    datalist = json.loads((trained_mmar / "config" / "environment.json").read_text())["DATASET_JSON"]
    entries = json.loads(Path(datalist).read_text())["validation"]
    monai_dice = DiceMetric(include_background=False)
    for entry in entries:
        name = Path(entry["image"]).name.removesuffix(".nii.gz")
        prediction = _read(eval_dir / name / f"{name}_model.nii.gz")
        label = _read(Path(datalist).parent / entry["label"])
        monai_dice(torch.cat([prediction == 0, prediction == 1], 1), torch.cat([label == 0, label == 1], 1))
    assert summary["metrics"]["mean_dice"] == pytest.approx(float(monai_dice.aggregate()), abs=1e-6)

    raw = (eval_dir / "mean_dice_raw_results.txt").read_text().splitlines()
    assert raw[0] == "# file\tclass_1" and len(raw) == 1 + len(entries)
    assert all(line.split("\t")[0].endswith(".nii.gz") for line in raw[1:])
    lines = (eval_dir / "mean_dice_summary_results.txt").read_text().splitlines()
    assert lines[0].startswith("class_1\tmean=") and "count=2" in lines[0]
    report = json.loads((eval_dir / "metrics.json").read_text())
    assert report["metrics"] == summary["metrics"] and len(report["cases"]) == 2
    csv_rows = (eval_dir / "metrics.csv").read_text().splitlines()
    assert csv_rows[0] == "file,metric,class,value,note" and len(csv_rows) == 3


def _tiny_case(folder: Path, name: str, label: np.ndarray, spacing: tuple[float, float, float]) -> dict:
    affine = np.diag([*spacing, 1.0])
    image = np.where(label > 0, 150, -100).astype(np.int16)
    nib.save(nib.Nifti1Image(image, affine), folder / f"{name}.nii.gz")
    nib.save(nib.Nifti1Image(label.astype(np.uint8), affine), folder / f"{name}_seg.nii.gz")
    return {"image": f"{name}.nii.gz", "label": f"{name}_seg.nii.gz"}


def evaluate_cases(mmar: Path, folder: Path, entries: list[dict], extra_metrics: list[dict]) -> dict:
    """`tlt-evaluate` of the seed config plus `extra_metrics` on `entries`, with the seed's TF model name."""
    config = json.loads((mmar / "config" / "config_validation.json").read_text())
    config["val_metrics"] += extra_metrics
    config_file = write_json(folder / "config_validation.json", config)
    data_file = write_json(folder / "datalist.json", {"validation": entries})
    code, stdout, stderr = invoke_streams(
        "--model_save_path",
        str(mmar / "models" / "model.trt.pb"),
        "--model_format",
        "trtmodel",
        "--config",
        str(config_file),
        "--output_path",
        str(folder / "out"),
        "--data_file",
        str(data_file),
        "--json",
        command=tlt_evaluate,
    )
    assert code == 0, stderr
    return json.loads(stdout)


def _cube() -> np.ndarray:
    label = np.zeros((32, 32, 16), dtype=np.uint8)
    label[8:24, 8:24, 4:12] = 1
    return label


def test_a_case_with_empty_ground_truth_is_reported_as_such(trained_mmar: Path, tmp_path: Path) -> None:  # noqa: F811
    entries = [
        _tiny_case(tmp_path, "full", _cube(), (1.5, 1.5, 3.0)),
        _tiny_case(tmp_path, "empty", np.zeros_like(_cube()), (1.5, 1.5, 3.0)),
    ]
    summary = evaluate_cases(trained_mmar, tmp_path, entries, [])
    raw = (tmp_path / "out" / "mean_dice_raw_results.txt").read_text().splitlines()
    assert raw[2].endswith("empty.nii.gz\tempty_ground_truth")
    stats = summary["summary"]["mean_dice"]["class_1"]
    assert stats["count"] == 1 and stats["empty_ground_truth"] == 1
    assert summary["metrics"]["mean_dice"] == pytest.approx(stats["mean"])  # the empty case is left out


def test_hausdorff95_in_mm_equals_monai(trained_mmar: Path, tmp_path: Path) -> None:  # noqa: F811
    pytest.importorskip("scipy", reason="MONAI's surface distances need SciPy")
    metrics = [
        {"name": "ComputeHausdorffDistance95", "args": {"field": "model", "label_field": "label"}},
        {"name": "ComputeAverageSurfaceDistance", "args": {"field": "model", "label_field": "label"}},
    ]
    summary = evaluate_cases(
        trained_mmar, tmp_path, [_tiny_case(tmp_path, "full", _cube(), (1.5, 1.5, 3.0))], metrics
    )
    prediction = _read(tmp_path / "out" / "full" / "full_model.nii.gz")
    truth = torch.as_tensor(_cube()).long()[None, None]
    assert prediction.sum() > 0, "the tiny model found nothing: no distance to compare"
    hd95 = HausdorffDistanceMetric(include_background=False, percentile=95)
    hd95(
        torch.cat([prediction == 0, prediction == 1], 1),
        torch.cat([truth == 0, truth == 1], 1),
        spacing=[1.5, 1.5, 3.0],
    )
    assert summary["metrics"]["hausdorff95"] == pytest.approx(float(hd95.aggregate()), rel=1e-5)
    assert summary["metrics"]["surface_distance"] is not None


EA_EVAL_CONFIG = {
    # seed 003 ch. 9 (config_eval_aiaa_Task09_Spleen.json), reconstructed; 16³ crops for the test data
    "input_nodes": {"image": "cond/Merge"},
    "output_nodes": {"model": "NV_OUTPUT_LABEL"},
    "batch_size": 1,
    "pre_transforms": [
        {"name": "transforms.LoadNifty", "fields": ["image", "label"]},
        {
            "name": "transforms.CropForegroundObject",
            "size": [16, 16, 16],
            "image_field": "image",
            "label_field": "label",
            "pad": 2,
            "foreground_only": True,
        },
        {
            "name": "transforms.ScaleIntensityRange",
            "field": "image",
            "a_min": -1024,
            "a_max": 1024,
            "b_min": -1.0,
            "b_max": 1.0,
            "clip": True,
        },
        {
            "name": "transforms.AddExtremePointsChannel",
            "image_field": "image",
            "label_field": "label",
            "sigma": 3,
            "pert": 0,
        },
    ],
    "post_transforms": [
        {
            "name": "transforms.SplitAcrossChannels",
            "applied_key": "model",
            "squeeze": True,
            "channel_names": ["background", "prediction"],
        },
        {
            "name": "transforms.SplitAcrossChannels",
            "applied_key": "image",
            "squeeze": True,
            "channel_names": ["image", "extreme_points"],
        },
    ],
    "writers": [
        {"applied_key": "prediction", "name": "writers.WriteNiftyResults", "dtype": "float32"},
        {"applied_key": "label", "name": "writers.WriteNiftyResults", "dtype": "uint8"},
        {"applied_key": "image", "name": "writers.WriteNiftyResults", "dtype": "float32"},
        {"applied_key": "extreme_points", "name": "writers.WriteNiftyResults", "dtype": "float32"},
    ],
    "metrics": [
        {
            "name": "MetricAverageFromArrayDice",
            "tag": "mean_dice",
            "applied_key": "model",
            "label_field": "label",
        }
    ],
    "inferer": {"name": "TFSimpleInferer"},
}


def test_seed_003_ea_eval_config_runs(tmp_path: Path, train_data: Path) -> None:
    """The TLT 1.x EA annotation config (image + extreme-points channels) with the seed's tlt-evaluate flags."""
    network_spec = {**UNET, "args": {**UNET["args"], "in_channels": 2}}
    from clara_tlt.factory.registry import build

    network = build(network_spec, "network", file="test", key_path="model")
    models = tmp_path / "models"
    models.mkdir()
    torch.save({"model": network.state_dict(), "train_conf": {"model": network_spec}}, models / "model.pt")
    config_file = write_json(tmp_path / "config_eval_aiaa_Task09_Spleen.json", EA_EVAL_CONFIG)
    code, stdout, stderr = invoke_streams(
        "--model_save_path",
        str(models / "model.trt.pb"),
        "--config",
        str(config_file),
        "--model_format",
        "trtmodel",
        "--file_root",
        str(train_data.parent),
        "--output_path",
        str(tmp_path / "eval"),
        "--data_file",
        str(train_data),
        "--setup",
        "standard",
        "--json",
        command=tlt_evaluate,
    )
    assert code == 0, stderr
    summary = json.loads(stdout)
    assert summary["cases"] == 2 and 0.0 <= summary["metrics"]["mean_dice"] <= 1.0
    for field in ("prediction", "label", "image", "extreme_points"):
        written = tmp_path / "eval" / "case_002" / f"case_002_{field}.nii.gz"
        assert nib.load(written).shape == (16, 16, 16), field
    assert (tmp_path / "eval" / "mean_dice_raw_results.txt").is_file()


def test_the_training_config_evaluates_to_the_trainers_validation_metric(trained_mmar: Path) -> None:  # noqa: F811
    """`evaluate -c config_train.json` scores its `validate` section: the key metric model.pt was saved with."""
    code, stdout, stderr = invoke_streams(
        "evaluate",
        "-m",
        str(trained_mmar),
        "-c",
        "config/config_train.json",
        "--set",
        f"MMAR_EVAL_OUTPUT_PATH={trained_mmar / 'eval_train'}",
        "--json",
    )
    assert code == 0, stderr
    best = torch.load(trained_mmar / "models" / "model.pt", weights_only=True)["metric"]
    assert json.loads(stdout)["metrics"]["mean_dice"] == pytest.approx(best, abs=1e-6)


def test_training_validates_with_the_post_transforms_evaluate_applies(
    tmp_path: Path, seed_configs: Path, train_data: Path
) -> None:
    """A training config's `validate.post_transforms` (here: the largest connected component of the argmax) count
    in training's validation as in `evaluate -c config_train.json`: the metric model.pt was saved with is the one
    evaluate reports, and it differs from the score without them."""
    from clara_tlt.config import load_config
    from clara_tlt.engines.training import train

    config = tiny_train_config(seed_configs, epochs=1)
    config["validate"]["post_transforms"] = [
        {"name": "ArgmaxAcrossChannels", "args": {"fields": "model"}},
        {"name": "KeepLargestCC", "args": {"fields": "model"}},
    ]
    mmar = tmp_path / "mmar"
    write_json(mmar / "config" / "config_train.json", config)
    write_validation_mmar(mmar, seed_configs, train_data, PROCESSING_TASK="segmentation")
    train(load_config("config/config_train.json", environment_path="config/environment.json", mmar_root=mmar))
    saved = torch.load(mmar / "models" / "model.pt", weights_only=True)["metric"]

    def evaluated(*extra: str) -> float:
        code, stdout, stderr = invoke_streams(
            "evaluate", "-m", str(mmar), "-c", "config/config_train.json", "--json", *extra
        )
        assert code == 0, stderr
        return float(json.loads(stdout)["metrics"]["mean_dice"])

    assert evaluated() == pytest.approx(saved, abs=1e-6)
    assert evaluated("--set", "validate.post_transforms=[]") != pytest.approx(saved, abs=1e-6)


def test_a_case_whose_label_does_not_fit_fails_alone(trained_mmar: Path, tmp_path: Path) -> None:  # noqa: F811
    """exit 5 naming the case; the reports hold the other cases, one row each, in order."""
    entries = [
        _tiny_case(tmp_path, "first", _cube(), (1.5, 1.5, 3.0)),
        _tiny_case(tmp_path, "misfit", _cube(), (1.5, 1.5, 3.0)),
        _tiny_case(tmp_path, "last", _cube(), (1.5, 1.5, 3.0)),
    ]
    small = nib.Nifti1Image(np.ones((16, 16, 8), dtype=np.uint8), np.diag([1.5, 1.5, 3.0, 1.0]))
    nib.save(small, tmp_path / "misfit_seg.nii.gz")
    config = trained_mmar / "config" / "config_validation.json"
    data_file = write_json(tmp_path / "datalist.json", {"validation": entries})
    code, _, stderr = invoke_streams(
        "--model_save_path",
        str(trained_mmar / "models" / "model.pt"),
        "--config",
        str(config),
        "--output_path",
        str(tmp_path / "out"),
        "--data_file",
        str(data_file),
        command=tlt_evaluate,
    )
    assert code == 5 and "1 of 3 case(s) failed" in stderr and "misfit.nii.gz: write" in stderr
    raw = (tmp_path / "out" / "mean_dice_raw_results.txt").read_text().splitlines()
    assert [Path(line.split("\t")[0]).name for line in raw[1:]] == ["first.nii.gz", "last.nii.gz"]
    report = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert [Path(f["file"]).name for f in report["failed"]] == ["misfit.nii.gz"]


NEG_LOSS = {
    "name": "ComputeAverage",
    "args": {"name": "val_neg_loss", "field": "neg_loss", "is_key_metric": True},
}


def test_a_key_metric_of_the_train_aux_ops_equals_trainings_validation(unet_mmar: Path) -> None:
    """Training's validation and `evaluate -c config_train.json` score one checkpoint alike: a key metric that
    averages an aux op of the *train* section (NegLoss) has the same value in train_summary.json and evaluate."""
    from clara_tlt.config import load_config
    from clara_tlt.engines.training import train

    path = unet_mmar / "config" / "config_train.json"
    config = json.loads(path.read_text())
    config.update(epochs=1)
    config["train"]["aux_ops"] = [{"name": "NegLoss", "args": {"tag": "neg_loss"}}]
    config["validate"]["metrics"] = [NEG_LOSS, {"name": "ComputeAverageDice", "args": {"name": "mean_dice"}}]
    write_json(path, config)
    train(
        load_config(
            "config/config_train.json", environment_path="config/environment.json", mmar_root=unet_mmar
        )
    )
    trained = json.loads((unet_mmar / "models" / "train_summary.json").read_text())
    assert trained["key_metric"] == "val_neg_loss"

    code, stdout, stderr = invoke_streams(
        "evaluate", "-m", str(unet_mmar), "-c", "config/config_train.json", "--json"
    )
    assert code == 0, stderr
    scored = json.loads(stdout)["metrics"]
    assert scored["val_neg_loss"] == pytest.approx(trained["final_metrics"]["val_neg_loss"], abs=1e-6)
    assert scored["val_neg_loss"] < 0  # minus a Dice loss: a value was computed, not a default


def test_a_metric_that_nothing_computes_is_a_config_error_before_any_case(
    trained_mmar: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A metric reading an aux op output that no aux op writes: exit 3 naming the key, in the dry run and the real
    run, before any case is read (no report written)."""
    mmar = shutil.copytree(trained_mmar, tmp_path / "mmar", ignore=shutil.ignore_patterns("infer", "eval*"))
    config = json.loads((mmar / "config" / "config_train.json").read_text())
    config["validate"]["metrics"].append(NEG_LOSS)
    write_json(mmar / "config" / "config_train.json", config)
    for dry in (("--dry-run",), ()):
        code, _, stderr = invoke_streams("evaluate", "-m", str(mmar), "-c", "config/config_train.json", *dry)
        assert code == 3, stderr
        assert "validate.metrics[1].args.field" in stderr and "'neg_loss', which nothing computes" in stderr
    assert not (mmar / "eval" / "metrics.json").exists()
