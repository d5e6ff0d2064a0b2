"""`clara-tlt export --bundle` / `tlt-export --bundle`: a Clara 3.x MMAR → a MONAI bundle that runs without
clara_tlt and agrees with `clara-tlt infer`."""

from __future__ import annotations

import datetime
import json
import shutil
from pathlib import Path

import monai
import nibabel as nib
import numpy as np
import pytest
import torch

from clara_tlt.export import bundle_verify
from tests.conftest import write_json
from tests.engines.conftest import UNET
from tests.export.conftest import run_bundle_without_clara_tlt, write_checkpoint
from tests.test_cli import invoke_streams

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mmar" / "config"
EXAMPLE_NETWORK = json.loads((EXAMPLE / "config_train.json").read_text())["train"]["model"]


def example_mmar(mmar: Path, datalist: Path, **changes: object) -> Path:
    """The example MMAR (examples/mmar): its config_validation.json (with `changes`, and 16³ windows for the
    32×32×16 test data) and a checkpoint of its network, untrained."""
    validation = json.loads((EXAMPLE / "config_validation.json").read_text())
    validation["inferer"]["args"]["roi_size"] = [16, 16, 16]
    write_json(mmar / "config" / "config_validation.json", validation | changes)
    environment = {
        "DATA_ROOT": str(datalist.parent),
        "DATASET_JSON": str(datalist),
        "MMAR_CKPT_DIR": "models",
    }
    write_json(mmar / "config" / "environment.json", environment | {"MMAR_EVAL_OUTPUT_PATH": "eval"})
    write_checkpoint(mmar / "models", EXAMPLE_NETWORK, [16, 16, 16])
    return mmar


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, train_data: Path) -> Path:
    """The example MMAR and its bundle, written by the CLI."""
    root = tmp_path_factory.mktemp("bundle")
    mmar = example_mmar(root / "mmar", train_data)
    code, stdout, stderr = invoke_streams(
        "export", "-m", str(mmar), "--bundle", str(root / "bundle"), "--json"
    )
    assert code == 0, stderr
    summary = json.loads(stdout)
    assert summary["verified"] and [c["field"] for c in summary["checks"]] == [
        "model",
        "pred_class0",
        "pred_class1",
    ]
    assert all(c["agreement"] >= 0.999 for c in summary["checks"])
    return root


def test_the_bundle_has_the_model_zoo_layout_and_metadata(exported: Path) -> None:
    bundle = exported / "bundle"
    assert sorted(str(p.relative_to(bundle)) for p in bundle.rglob("*") if p.is_file()) == [
        "configs/inference.json",
        "configs/logging.conf",
        "configs/metadata.json",
        "docs/README.md",
        "models/model.pt",
    ]
    assert [p.name for p in exported.iterdir() if p.name.startswith(".")] == []  # no staging folder left
    meta = json.loads((bundle / "configs" / "metadata.json").read_text())
    assert meta["monai_version"] == monai.__version__
    assert meta["pytorch_version"] == torch.__version__.split("+")[0]
    assert meta["numpy_version"] == np.__version__
    assert {"version", "task", "description"} <= meta.keys()
    assert meta["required_packages_version"].keys() == {"nibabel", "pytorch-ignite"}
    image, pred = (
        meta["network_data_format"]["inputs"]["image"],
        meta["network_data_format"]["outputs"]["pred"],
    )
    assert (image["num_channels"], image["spatial_shape"], image["value_range"]) == (
        1,
        [16, 16, 16],
        [0.0, 1.0],
    )
    assert pred["num_channels"] == 2
    assert pred["channel_def"] == {"0": "pred_class0", "1": "pred_class1"}  # SplitBasedOnLabel's label names
    # models/model.pt: the weights of MONAI's UNet as inference.json builds it
    inference = json.loads((bundle / "configs" / "inference.json").read_text())
    network_def = dict(inference["network_def"])
    assert (
        network_def.pop("_target_") == "monai.networks.nets.UNet" and network_def == EXAMPLE_NETWORK["args"]
    )
    monai.networks.nets.UNet(**network_def).load_state_dict(torch.load(bundle / "models" / "model.pt"))
    readme = (bundle / "docs" / "README.md").read_text()
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    assert (
        str((exported / "mmar").resolve()) in readme
        and "config_validation.json" in readme
        and today in readme
    )


def test_monai_bundle_run_without_clara_tlt_agrees_with_clara_tlt_infer(
    exported: Path, train_data: Path, tmp_path: Path
) -> None:
    images = tmp_path / "in"
    images.mkdir()
    cases = [train_data.parent / e["image"] for e in json.loads(train_data.read_text())["validation"]]
    for case in cases:
        shutil.copy(case, images / case.name)
    bundle = exported / "bundle"
    run_bundle_without_clara_tlt(bundle, images, tmp_path / "monai")
    code, _, stderr = invoke_streams(
        "infer",
        "-m",
        str(exported / "mmar"),
        "-c",
        "config/config_validation.json",
        "--set",
        f"MMAR_EVAL_OUTPUT_PATH={tmp_path / 'ours'}",
    )
    assert code == 0, stderr
    for case in cases:
        name = case.name.removesuffix(".nii.gz")
        for field in ("model", "pred_class1"):
            theirs = nib.load(tmp_path / "monai" / name / f"{name}_{field}.nii.gz")
            ours = nib.load(tmp_path / "ours" / name / f"{name}_{field}.nii.gz")
            assert np.allclose(theirs.affine, ours.affine, atol=1e-4)
            assert np.mean(np.asarray(theirs.dataobj) == np.asarray(ours.dataobj)) >= 0.999


@pytest.mark.parametrize(
    ("change", "named", "where"),
    [
        ("resample", "'ScaleByResolution' cannot go into a MONAI bundle", "pre_transforms[3].name"),
        ("unknown", "'CenterData' has no MONAI translation", "pre_transforms[3].name"),
        ("triton", "'TRTISScanWindowInferer' cannot go into a MONAI bundle", "inferer.name"),
        ("metaimage", "'WriteMhd' cannot go into a MONAI bundle", "writers[0].name"),
    ],
)
def test_a_component_without_a_monai_equivalent_is_refused_with_exit_3(
    tmp_path: Path, train_data: Path, change: str, named: str, where: str
) -> None:
    example = json.loads((EXAMPLE / "config_validation.json").read_text())
    pre, inferer, writers = example["pre_transforms"], example["inferer"], example["writers"]
    if change == "resample":
        pre.append({"name": "ScaleByResolution", "args": {"fields": "image", "target_resolution": [1, 1, 1]}})
    elif change == "unknown":
        pre.append({"name": "CenterData", "args": {"fields": "image"}})
    elif change == "triton":
        inferer["name"] = "TRTISScanWindowInferer"
    else:
        writers[0]["name"] = "WriteMhd"
    mmar = example_mmar(tmp_path / "mmar", train_data, pre_transforms=pre, inferer=inferer, writers=writers)
    code, _, stderr = invoke_streams("export", "-m", str(mmar), "--bundle", str(tmp_path / "bundle"))
    assert code == 3, stderr
    assert named in stderr and f"config_validation.json: {where}" in stderr
    assert not (tmp_path / "bundle").exists() or not any((tmp_path / "bundle").iterdir())
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_bundle_that_fails_to_run_under_monai_is_not_written(
    tmp_path: Path, train_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mmar = example_mmar(tmp_path / "mmar", train_data)
    # a bundle that reached for our code: the check's process has none
    needs_us = bundle_verify.WITHOUT_CLARA_TLT.replace("from monai.bundle import run", "import clara_tlt")
    monkeypatch.setattr(bundle_verify, "WITHOUT_CLARA_TLT", needs_us)
    code, _, stderr = invoke_streams("export", "-m", str(mmar), "--bundle", str(tmp_path / "bundle"))
    assert (
        code == 1
        and "did not run under MONAI without clara_tlt" in stderr
        and "nothing was written" in stderr
    )
    assert not (tmp_path / "bundle").exists() or not any((tmp_path / "bundle").iterdir())
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert "config_validation.json: verification failed" in stderr and "--skip_verify" in stderr
    code, _, stderr = invoke_streams(  # the way on it names: the bundle written unchecked, to look into
        "export", "-m", str(mmar), "--bundle", str(tmp_path / "bundle"), "--skip_verify"
    )
    assert code == 0 and (tmp_path / "bundle" / "configs" / "inference.json").is_file(), stderr


def test_tlt_export_needs_inference_config_for_a_bundle(tmp_path: Path, seed_configs: Path) -> None:
    from clara_tlt.cli.export import tlt_command

    write_checkpoint(tmp_path / "models", UNET, [16, 16, 16])
    bundle = str(tmp_path / "bundle")
    code, _, stderr = invoke_streams(
        "--model_file_path", str(tmp_path / "models"), "--bundle", bundle, command=tlt_command
    )
    assert code == 2 and "--inference_config" in stderr
    seed = json.loads((seed_configs / "config_validation_spleen.json").read_text())
    seed["inferer"]["name"] = "TRTISScanWindowInferer"  # the dialect reads the config it names
    (tmp_path / "validation.json").write_text(json.dumps(seed))
    code, _, stderr = invoke_streams(
        "--model_file_path",
        str(tmp_path / "models"),
        "--bundle",
        bundle,
        "--inference_config",
        str(tmp_path / "validation.json"),
        command=tlt_command,
    )
    assert code == 3 and "'TRTISScanWindowInferer' cannot go into a MONAI bundle" in stderr


def test_our_own_network_goes_into_the_bundle_as_torchscript(
    tmp_path: Path, seed_configs: Path, train_data: Path
) -> None:
    """tlt-export's dialect, with Clara's TensorFlow-era Unet (our code, not a MONAI class): the bundle loads
    models/model.ts and still runs without clara_tlt (the export checked it)."""
    from clara_tlt.cli.export import tlt_command

    clara_unet = {"name": "Unet", "args": {"num_classes": 2, "nf_enc": "4,8,8,8", "nf_dec": "8,8,8,8,8,4,4"}}
    write_checkpoint(tmp_path / "models", clara_unet, [16, 16, 16])
    seed = json.loads((seed_configs / "config_validation_spleen.json").read_text())
    seed["inferer"]["args"]["roi_size"] = [16, 16, 16]
    (tmp_path / "validation.json").write_text(json.dumps(seed))
    bundle = tmp_path / "bundle"
    code, stdout, stderr = invoke_streams(
        "--model_file_path",
        str(tmp_path / "models"),
        "--bundle",
        str(bundle),
        "--inference_config",
        str(tmp_path / "validation.json"),
        "--json",
        command=tlt_command,
    )
    assert code == 0, stderr
    assert all(c["agreement"] >= 0.999 for c in json.loads(stdout)["checks"])
    inference = json.loads((bundle / "configs" / "inference.json").read_text())
    assert inference["network_def"] == "$torch.jit.load(@bundle_root + '/models/model.ts')"
    assert "checkpointloader" not in inference
    assert torch.jit.load(bundle / "models" / "model.ts") is not None
    weights = torch.load(bundle / "models" / "model.pt", weights_only=True)
    assert weights.keys() == torch.jit.load(bundle / "models" / "model.ts").state_dict().keys()


def test_a_bundle_folder_holding_other_files_is_refused(tmp_path: Path, train_data: Path) -> None:
    mmar = example_mmar(tmp_path / "mmar", train_data)
    (tmp_path / "bundle").mkdir()
    (tmp_path / "bundle" / "notes.txt").write_text("mine")
    code, _, stderr = invoke_streams("export", "-m", str(mmar), "--bundle", str(tmp_path / "bundle"))
    assert code == 2 and "--bundle" in stderr and "holds files but no bundle" in stderr
    assert [p.name for p in (tmp_path / "bundle").iterdir()] == ["notes.txt"]
