"""`clara-tlt export -m MMAR --bundle DIR` on a Clara 4.x MMAR: its MONAI components pass into a bundle that runs
without clara_tlt and agrees with `clara-tlt infer` on the 4.x MMAR; what a bundle cannot hold is exit 3."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest

from tests.clara4.conftest import (  # noqa: F401  (trained: the trained 4.x MMAR)
    inference_config,
    trained,
    validation_config,
)
from tests.conftest import write_json
from tests.export.conftest import run_bundle_without_clara_tlt
from tests.test_cli import invoke_streams


@pytest.fixture(scope="module")
def exported(trained: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    """The trained 4.x MMAR (copied) and its bundle, written and verified by the CLI."""
    root = tmp_path_factory.mktemp("bundle4")
    mmar = shutil.copytree(trained["mmar"], root / "mmar")
    code, stdout, stderr = invoke_streams(
        "export", "-m", str(mmar), "--bundle", str(root / "bundle"), "--json"
    )
    assert code == 0, stderr
    summary = json.loads(stdout)
    assert summary["config"] == "config/config_inference.json"  # a 4.x MMAR's own inference config
    assert summary["verified"] and [c["field"] for c in summary["checks"]] == ["seg"]
    assert all(c["agreement"] >= 0.999 for c in summary["checks"])
    return root


def test_the_components_pass_through_in_monai_16_names(exported: Path) -> None:
    inference = json.loads((exported / "bundle" / "configs" / "inference.json").read_text())
    network = inference["network_def"]
    assert network["_target_"] == "monai.networks.nets.UNet" and network["spatial_dims"] == 3  # `dimensions`
    assert "dimensions" not in network
    assert [t["_target_"] for t in inference["preprocessing"]["transforms"]] == [
        "LoadImaged",
        "EnsureChannelFirstd",  # AddChanneld, renamed with channel_dim="no_channel"
        "ScaleIntensityRanged",
    ]
    assert inference["preprocessing"]["transforms"][1]["channel_dim"] == "no_channel"
    assert inference["inferer"] == {
        "_target_": "SlidingWindowInferer",
        "roi_size": [16, 16, 16],
        "sw_batch_size": 2,
    }
    saver = inference["postprocessing"]["transforms"][-1]
    assert saver["_target_"] == "SaveImaged" and saver["output_dir"] == "@output_dir"
    assert "$glob.glob(@dataset_dir" in inference["datalist"].replace("sorted(", "")


def test_monai_bundle_run_without_clara_tlt_agrees_with_clara_tlt_infer(
    exported: Path, tmp_path: Path
) -> None:
    mmar = exported / "mmar"
    environment = json.loads((mmar / "config" / "environment.json").read_text())
    datalist = json.loads(Path(environment["DATASET_JSON"]).read_text())
    case = Path(environment["DATA_ROOT"]) / datalist["validation"][0]["image"]
    (tmp_path / "in").mkdir()
    shutil.copy(case, tmp_path / "in" / case.name)
    bundle = exported / "bundle"
    run_bundle_without_clara_tlt(bundle, tmp_path / "in", tmp_path / "monai")
    code, _, stderr = invoke_streams(
        "infer",
        "-m",
        str(mmar),
        "-c",
        "config/config_inference.json",
        "--set",
        f"MMAR_EVAL_OUTPUT_PATH={tmp_path / 'ours'}",
    )
    assert code == 0, stderr
    name = case.name.removesuffix(".nii.gz")
    theirs = nib.load(tmp_path / "monai" / name / f"{name}_seg.nii.gz")
    ours = nib.load(next((tmp_path / "ours").rglob(f"{name}_seg.nii.gz")))
    assert np.allclose(theirs.affine, ours.affine, atol=1e-4)
    assert np.mean(np.asarray(theirs.dataobj) == np.asarray(ours.dataobj)) >= 0.999


def test_a_validation_config_loading_labels_exports_with_the_labels_skipped(
    exported: Path, tmp_path: Path
) -> None:
    """config_validation.json loads `label` too and one-hots it after the argmax; the bundle has images only."""
    mmar = Path(shutil.copytree(exported / "mmar", tmp_path / "mmar"))
    config = validation_config()
    saver = {"name": "SaveImaged", "args": {"keys": "pred", "output_dir": "{MMAR_EVAL_OUTPUT_PATH}"}}
    config["post_transforms"] = [*config["post_transforms"], saver]
    write_json(mmar / "config" / "validation_saved.json", config)
    code, stdout, stderr = invoke_streams(
        "export",
        "-m",
        str(mmar),
        "--bundle",
        str(tmp_path / "bundle"),
        "--inference-config",
        "config/validation_saved.json",
        "--json",
    )
    assert code == 0, stderr
    assert [(c["field"], c["agreement"] >= 0.999) for c in json.loads(stdout)["checks"]] == [("trans", True)]
    post = json.loads((tmp_path / "bundle" / "configs" / "inference.json").read_text())["postprocessing"]
    assert post["transforms"][0] == {
        "_target_": "DeleteItemsd",
        "keys": ["label"],
    }  # the evaluator's label: None
    assert post["transforms"][2]["_target_"] == "AsDiscreted" and post["transforms"][2]["allow_missing_keys"]


@pytest.mark.parametrize(
    ("change", "named", "where"),
    [
        ("custom", "path 'custom.MyTransform' is your own code", "pre_transforms[1].path"),
        ("ours", "'ScaleByResolution' is not a MONAI class", "pre_transforms[1].name"),
        ("reference", "'@evaluator' has no counterpart in a bundle", "post_transforms[0].args.transform"),
        ("no writer", "writes no predictions (no SaveImaged", "post_transforms"),
    ],
)
def test_what_a_bundle_cannot_hold_is_refused_with_exit_3(
    exported: Path, tmp_path: Path, change: str, named: str, where: str
) -> None:
    mmar = Path(shutil.copytree(exported / "mmar", tmp_path / "mmar"))
    config = inference_config()
    if change == "custom":
        config["pre_transforms"].insert(1, {"path": "custom.MyTransform", "args": {"keys": "image"}})
    elif change == "ours":
        config["pre_transforms"].insert(1, {"name": "ScaleByResolution", "args": {"fields": "image"}})
    elif change == "reference":
        config["post_transforms"].insert(
            0, {"name": "Invertd", "args": {"keys": "pred", "transform": "@evaluator"}}
        )
    else:
        config["post_transforms"].pop()
    write_json(mmar / "config" / "config_inference.json", config)
    code, _, stderr = invoke_streams("export", "-m", str(mmar), "--bundle", str(tmp_path / "bundle"))
    assert code == 3, stderr
    assert named in stderr and f"config/config_inference.json: {where}" in stderr
    assert not (tmp_path / "bundle").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
