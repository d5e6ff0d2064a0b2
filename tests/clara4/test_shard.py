"""`--shard I/N` on a Clara 4.x MMAR: infer's shards (both dialects) write together exactly the files one whole
run's SaveImaged writes, voxel for voxel; evaluate runs whole and says what to run instead."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest

from clara_tlt.cli.infer import tlt_command as tlt_infer
from tests.clara4.test_commands import _copy
from tests.conftest import write_json
from tests.test_cli import invoke, invoke_streams

INFER = ("-c", "config/config_inference.json")


def _three_cases(mmar: Path, tmp_path: Path) -> Path:
    """The MMAR's datalist with all three synthetic cases in its validation list (shard 0 of 2 gets two)."""
    environment_file = mmar / "config" / "environment.json"
    environment = json.loads(environment_file.read_text())
    datalist = json.loads(Path(environment["DATASET_JSON"]).read_text())
    entries = [{"image": e["image"]} for e in (*datalist["training"], *datalist["validation"])]
    data_file = write_json(tmp_path / "datalist3.json", {"validation": entries})
    write_json(environment_file, environment | {"DATASET_JSON": str(data_file)})
    return data_file


def _voxels(folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each written image by its path under `folder`: (voxels, affine)."""
    images = {str(p.relative_to(folder)): nib.load(p) for p in sorted(folder.rglob("*.nii.gz"))}
    return {name: (np.asarray(image.dataobj), image.affine) for name, image in images.items()}


def _assert_same(parts: list[Path], whole: Path) -> None:
    """The shards' folders hold disjoint files whose union is the whole run's, voxels and affines equal."""
    expected = _voxels(whole)
    written = [_voxels(part) for part in parts]
    assert sum(len(w) for w in written) == len(expected) == 3
    merged: dict[str, Any] = {}
    for files in written:
        assert not merged.keys() & files.keys()
        merged |= files
    assert merged.keys() == expected.keys()
    for name, (voxels, affine) in expected.items():
        np.testing.assert_array_equal(merged[name][0], voxels)
        np.testing.assert_array_equal(merged[name][1], affine)


def test_infer_shards_write_the_whole_runs_files_in_both_dialects(
    trained: dict[str, Any], tmp_path: Path
) -> None:
    mmar = _copy(trained, tmp_path)
    data_file = _three_cases(mmar, tmp_path)
    code, output = invoke("infer", "-m", str(mmar), *INFER)
    assert code == 0, output
    whole = (mmar / "infer").rename(tmp_path / "whole")
    for index in (0, 1):  # both into infer/, where the whole run wrote
        code, output = invoke("infer", "-m", str(mmar), *INFER, "--shard", f"{index}/2")
        assert code == 0, output
        assert f"Inferred {2 - index} case(s)" in output
    tlt_parts = []
    for index in (0, 1):
        folder = tmp_path / f"tlt_{index}"
        code, out, err = invoke_streams(
            *("--model_save_path", str(mmar / "models" / "model.pt"), "--output_path", str(folder)),
            *("--config", str(mmar / "config" / "config_inference.json"), "--data_file", str(data_file)),
            *("--file_root", json.loads((mmar / "config" / "environment.json").read_text())["DATA_ROOT"]),
            *("--shard", f"{index}/2"),
            command=tlt_infer,
        )
        assert code == 0, out + err
        tlt_parts.append(folder)
    _assert_same([mmar / "infer"], whole)
    _assert_same(tlt_parts, whole)


def test_an_empty_shard_writes_nothing_and_a_bad_shard_is_a_usage_error(
    trained: dict[str, Any], tmp_path: Path
) -> None:
    mmar = _copy(trained, tmp_path)
    _three_cases(mmar, tmp_path)
    code, output = invoke("infer", "-m", str(mmar), *INFER, "--shard", "3/4")
    assert code == 0, output
    assert "holds no case" in output and not list((mmar / "infer").rglob("*.nii.gz"))
    for bad in ("3/2", "2/2"):
        code, output = invoke("infer", "-m", str(mmar), *INFER, "--shard", bad)
        assert code == 2 and "is not a shard" in output, output


@pytest.mark.parametrize("flag", [("--shard", "0/2"), ("--merge-shards", "2")])
def test_evaluate_shards_are_refused_saying_what_runs_instead(mmar4: Path, flag: tuple[str, str]) -> None:
    code, output = invoke("evaluate", "-m", str(mmar4), "-c", "config/config_validation.json", *flag)
    assert code == 2, output
    assert "runs whole" in output and "evaluate without --shard/--merge-shards" in output
    assert not (mmar4 / "eval").exists()


def test_inputs_that_savedimaged_would_write_to_one_file_are_refused_and_data_root_dir_keeps_them_apart(
    trained: dict[str, Any], tmp_path: Path
) -> None:
    """`a/ct.nii.gz` and `b/ct.nii.gz` both become `ct/ct_seg.nii.gz` under MONAI's FolderLayout: exit 4 before
    any case is read, naming both inputs; the fix the message gives (`data_root_dir`) writes both."""
    mmar = _copy(trained, tmp_path)
    environment_file = mmar / "config" / "environment.json"
    environment = json.loads(environment_file.read_text())
    listed = json.loads(Path(environment["DATASET_JSON"]).read_text())["validation"][0]["image"]
    source = Path(environment["DATA_ROOT"]) / listed  # the datalist's paths are relative to DATA_ROOT
    root = tmp_path / "same_names"
    for folder in ("a", "b"):
        (root / folder).mkdir(parents=True)
        (root / folder / "ct.nii.gz").write_bytes(source.read_bytes())
    entries = [{"image": str(root / folder / "ct.nii.gz")} for folder in ("a", "b")]
    data_file = write_json(tmp_path / "same_names.json", {"validation": entries})
    write_json(environment_file, environment | {"DATASET_JSON": str(data_file), "DATA_ROOT": str(root)})

    code, output = invoke("infer", "-m", str(mmar), *INFER)
    assert code == 4, output
    assert "SaveImaged" in output and entries[0]["image"] in output and entries[1]["image"] in output
    assert '"data_root_dir": "{DATA_ROOT}"' in output and not list(mmar.glob("infer/**/*.nii.gz"))
    for shard in (
        "0/2",
        "1/2",
    ):  # one case each: the whole list decides, or the shards would overwrite each other
        code, output = invoke("infer", "-m", str(mmar), *INFER, "--shard", shard)
        assert code == 4 and entries[1]["image"] in output, output

    config_file = mmar / "config" / "config_inference.json"
    config = json.loads(config_file.read_text())
    saver = next(t for t in config["post_transforms"] if t["name"] == "SaveImaged")
    saver["args"]["data_root_dir"] = "{DATA_ROOT}"
    write_json(config_file, config)
    code, output = invoke("infer", "-m", str(mmar), *INFER)
    assert code == 0, output
    assert sorted(p.relative_to(mmar / "infer").parts[0] for p in (mmar / "infer").rglob("*.nii.gz")) == [
        "a",
        "b",
    ]
