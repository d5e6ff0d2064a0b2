"""`clara_tlt.io.outputs`: output names made from inputs, the final check, clashes, output folders checked up front
(the library, and dataconvert, deploy and export from the command line)."""

from __future__ import annotations

import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from clara_tlt.engines.dataconvert import _unique
from clara_tlt.errors import ClaraError, NoInputError, UsageError
from clara_tlt.io.outputs import case_name, check_output_folder, inside, output_names, safe_name
from clara_tlt.synthetic.dicom import write_dicom_series
from clara_tlt.writers import WriteMhd, WriteNiftyResults
from tests.test_cli import invoke_streams
from tests.test_dataconvert import dataconvert


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("/data/case_003.nii.gz", "case_003"),
        ("/data/x/...nii.gz", "_."),  # `..` once the suffix goes
        ("/data/series/x/..", "series"),  # a DICOM folder: the folder the path means
        ("/data/.hidden.mha", "_hidden"),
        ("/data/a\\b.nii", "a_b"),
        ("/data/été 1.nii.gz", "été 1"),  # nothing else changes
        (None, "sample"),
    ],
)
def test_case_name_is_one_safe_component(source: str | None, name: str) -> None:
    assert case_name(source) == name


def test_ascii_names_for_dataconvert_dicom_folders() -> None:
    assert safe_name("patient a/ct^1", ascii_only=True) == "patient_a_ct_1"
    assert safe_name("^^", ascii_only=True, fallback="volume") == "volume"


@pytest.mark.parametrize("writer", [WriteNiftyResults, WriteMhd])
@pytest.mark.parametrize("source", ["...nii.gz", "series/x/.."])
def test_writers_keep_outputs_in_their_folder(tmp_path: Path, writer: type, source: str) -> None:
    out = tmp_path / "deep" / "out"
    image = MetaTensor(torch.zeros(1, 4, 4, 4), meta={"filename_or_obj": str(tmp_path / "deep" / source)})
    written = Path(writer("model", write_path=str(out))({"image": image, "model": image})["model_path"])
    assert out in written.parents and written.is_file()
    assert sorted(p.name for p in (tmp_path / "deep").iterdir()) == ["out"]


def test_a_target_outside_its_folder_is_refused_naming_the_input(tmp_path: Path) -> None:
    with pytest.raises(
        ClaraError, match=r"in/ct\.nii\.gz: its output .* would lie outside the output folder"
    ):
        inside(tmp_path / "out", tmp_path / "out" / ".." / "ct.nii.gz", source="in/ct.nii.gz")
    assert inside(tmp_path / "out", tmp_path / "out" / "a" / "b.nii.gz", source="x") == (
        tmp_path / "out" / "a" / "b.nii.gz"
    )


def test_clashing_names_take_their_folders_or_are_refused_listing_both() -> None:
    assert output_names(["/d/p1/image.nii.gz", "/d/p2/image.nii.gz", "/d/p2/mask.nii.gz"]) == [
        "p1_image",
        "p2_image",
        "mask",
    ]
    assert output_names(["/d/p1/ct.nii.gz", "/e/p1/ct.nii.gz"]) == ["d_p1_ct", "e_p1_ct"]
    with pytest.raises(NoInputError, match=r"'ct': /d/ct\.nii, /d/ct\.nii\.gz") as error:
        output_names(["/d/ct.nii", "/d/ct.nii.gz", "/d/other.nii"])
    assert error.value.exit_code == 4


def _deny(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder we may not write into (the tests run as root, where chmod blocks nothing)."""
    real = os.access
    monkeypatch.setattr(
        os, "access", lambda p, mode, **kw: (Path(p) != folder or not mode & os.W_OK) and real(p, mode, **kw)
    )


def test_output_folder_check_names_the_flag_and_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "file").write_text("x")
    for folder, reason in (
        (tmp_path / "file", "is a file, not a folder"),
        (tmp_path / "file" / "sub", "is a file, so the output folder cannot be created there"),
    ):
        with pytest.raises(UsageError, match=f"--flag {folder}: .*{reason}"):
            check_output_folder(folder, flag="--flag")
    assert check_output_folder(tmp_path / "file2" / "new", flag="-o") == tmp_path / "file2" / "new"
    assert not (tmp_path / "file2").exists()
    _deny(tmp_path, monkeypatch)
    with pytest.raises(UsageError, match="cannot write there: permission denied; choose a folder"):
        check_output_folder(tmp_path, flag="-o")


def test_dataconvert_names_stay_inside_and_sidecars_sit_beside_their_volume(tmp_path: Path) -> None:
    volume = nib.Nifti1Image(np.zeros((4, 4, 4), np.int16), np.eye(4))
    for name in ("x/...nii.gz", "x/a.nii.gz", "y/a.nii.gz"):
        (tmp_path / "in" / name).parent.mkdir(parents=True, exist_ok=True)
        nib.save(volume, tmp_path / "in" / name)
    out = tmp_path / "in" / "out"
    code, _, stderr = dataconvert("-d", str(tmp_path / "in" / "x" / ".."), "-o", str(out), "-s", ".nii.gz")
    assert code == 0, stderr
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == ["x/_..json", "x/_..nii.gz", "x/a.json", "x/a.nii.gz", "y/a.json", "y/a.nii.gz"]
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == ["out", "x", "y"]


def test_dataconvert_dicom_folders_of_one_name_are_told_apart_before_any_work(tmp_path: Path) -> None:
    ct = np.zeros((3, 8, 8), np.int16)
    # `p/ct` and `p ct` both make `p_ct` (every series is number 1): `p_ct_s1` twice, beside `p_ct_s1_2`
    for folder in ("p/ct", "p ct", "p_ct_s1_2"):
        write_dicom_series(ct, tmp_path / "in" / folder, spacing=(1, 1, 1))
    code, stdout, stderr = dataconvert("-d", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-j", "1")
    assert code == 0, stderr
    assert sorted(p.name for p in (tmp_path / "out").glob("*.nii.gz")) == [
        "p_ct_s1.nii.gz",
        "p_ct_s1_2.nii.gz",
        "p_ct_s1_3.nii.gz",
    ]
    assert _unique(["a", "a", "a_2"]) == ["a", "a_3", "a_2"]  # a suffix never takes another input's name
    assert "Converted 3 volume(s)" in stdout


def test_deploy_and_export_check_their_output_folders_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config_inference.json"
    config.write_text("{}")
    (tmp_path / "taken").write_text("mine")
    for flag, env in (("--output", "CLARA_DEPLOY_OUTPUT"), ("--publish", "CLARA_DEPLOY_PUBLISH")):
        code, _, stderr = invoke_streams(
            *("deploy", "--config", str(config), "--input", str(tmp_path), "--output", str(tmp_path / "out")),
            *(flag, str(tmp_path / "taken")),
        )
        assert code == 2 and f"({env}) {tmp_path / 'taken'}: is a file, not a folder" in stderr, stderr
    models = tmp_path / "models"
    models.mkdir()
    _deny(models, monkeypatch)
    code, _, stderr = invoke_streams("export", "-m", str(tmp_path), "--model_file_path", str(models))
    assert code == 2 and f"--model_file_path {models}: cannot write there" in stderr, stderr
    (tmp_path / "mmar").mkdir()
    code, _, stderr = invoke_streams(
        "export", "-m", str(tmp_path / "mmar"), "--triton_repo", str(tmp_path / "taken" / "repo")
    )
    assert code == 2 and "--triton_repo" in stderr and "is a file, so the output folder" in stderr, stderr
