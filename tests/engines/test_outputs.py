"""infer/evaluate outputs from a user's seat: names made from inputs stay in the output folder, two inputs of
one name never overwrite each other, infer keeps evaluate's folder, output folders are checked before any work."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import nibabel as nib
import pytest

from clara_tlt.cli.evaluate import tlt_command as tlt_evaluate
from clara_tlt.cli.infer import tlt_command as tlt_infer
from tests.conftest import write_json
from tests.engines.test_infer import _image_of, mmar_run, tlt_run, trained_mmar  # noqa: F401  (the fixture)
from tests.test_cli import invoke_streams


def _datalist(tmp_path: Path, images: list[Path]) -> Path:
    return write_json(tmp_path / "datalist.json", {"validation": [{"image": str(p)} for p in images]})


def _copy(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copyfile(source, target))


def test_an_image_named_dots_writes_inside_the_output_folder(
    trained_mmar: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    data = tmp_path / "data" / "x"
    image = _copy(_image_of(trained_mmar, "case_002"), data / "...nii.gz")
    out = tmp_path / "data" / "out"
    code, _, stderr = tlt_run(trained_mmar, _datalist(tmp_path, [image]), out)
    assert code == 0, stderr
    assert (out / "_." / "_._model.nii.gz").is_file()  # `..` made safe, inside --output_path
    outside = [p for p in (tmp_path / "data").rglob("*") if out not in p.parents and p != out]
    assert outside == [data, image]


def test_one_file_name_in_two_folders_takes_its_folder_and_both_are_kept(
    trained_mmar: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    first = _copy(_image_of(trained_mmar, "case_002"), tmp_path / "a" / "ct.nii.gz")
    second = _copy(_image_of(trained_mmar, "case_003"), tmp_path / "b" / "ct.nii.gz")
    out = tmp_path / "out"
    code, stdout, stderr = tlt_run(trained_mmar, _datalist(tmp_path, [first, second]), out)
    assert code == 0, stderr
    assert "Inferred 2 case(s)" in stdout
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*_model.nii.gz"))
    assert written == ["a_ct/a_ct_model.nii.gz", "b_ct/b_ct_model.nii.gz"]
    shapes = [nib.load(out / w).shape for w in written]
    assert shapes == [nib.load(first).shape, nib.load(second).shape]


def test_inputs_no_folder_tells_apart_are_refused_before_any_work(
    trained_mmar: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    gz = _copy(_image_of(trained_mmar, "case_002"), tmp_path / "d" / "ct.nii.gz")
    plain = tmp_path / "d" / "ct.nii"
    nib.save(nib.load(gz), plain)
    out = tmp_path / "out"
    (tmp_path / "models").mkdir()
    code, _, stderr = invoke_streams(
        *("--model_save_path", str(tmp_path / "models" / "missing.pt")),  # never reached
        *("--config", str(trained_mmar / "config" / "config_validation.json")),
        *("--output_path", str(out), "--data_file", str(_datalist(tmp_path, [plain, gz]))),
        command=tlt_infer,
    )
    assert code == 4, stderr
    assert f"'ct': {plain}, {gz}" in stderr and "missing.pt" not in stderr
    assert not out.exists()


def test_infer_writes_its_own_folder_and_leaves_evaluates_alone(
    trained_mmar: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    mmar = Path(
        shutil.copytree(trained_mmar, tmp_path / "mmar", ignore=shutil.ignore_patterns("eval", "infer"))
    )
    evaluated = mmar / "eval" / "case_002" / "case_002_model.nii.gz"
    evaluated.parent.mkdir(parents=True)
    evaluated.write_bytes(b"evaluate's prediction")
    code, stdout, stderr = mmar_run("infer", mmar)
    assert code == 0, stderr
    assert json.loads(stdout)["output_path"] == str((mmar / "infer").resolve())
    assert (mmar / "infer" / "case_002" / "case_002_model.nii.gz").is_file()
    assert evaluated.read_bytes() == b"evaluate's prediction"
    chosen = tmp_path / "chosen"
    code, stdout, stderr = mmar_run("infer", mmar, "--set", f"MMAR_EVAL_OUTPUT_PATH={chosen}")
    assert code == 0, stderr
    assert (chosen / "case_003" / "case_003_model.nii.gz").is_file()


def deny_writes_in(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As a read-only folder looks to a user who is not root (the tests run as root, where chmod blocks nothing)."""
    real = os.access
    monkeypatch.setattr(
        os, "access", lambda p, mode, **kw: (Path(p) != folder or not mode & os.W_OK) and real(p, mode, **kw)
    )


@pytest.mark.parametrize("command", ["infer", "evaluate"])
@pytest.mark.parametrize("problem", ["a file", "under a file", "not writable"])
def test_bad_output_folder_is_a_usage_error_naming_the_flag_before_any_work(
    trained_mmar: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: str,
    problem: str,
) -> None:
    taken = tmp_path / "taken"
    taken.write_text("mine")
    folder = {"a file": taken, "under a file": taken / "sub", "not writable": tmp_path / "ro" / "out"}[
        problem
    ]
    if problem == "not writable":
        (tmp_path / "ro").mkdir()
        deny_writes_in(tmp_path / "ro", monkeypatch)
    expected = {
        "a file": "is a file, not a folder",
        "under a file": "is a file, so the output folder cannot be created there",
        "not writable": "cannot write there (its parent",
    }[problem]
    datalist = json.loads((trained_mmar / "config" / "environment.json").read_text())["DATASET_JSON"]
    code, stdout, stderr = invoke_streams(
        *("--model_save_path", str(trained_mmar / "models" / "model.pt")),
        *("--config", str(trained_mmar / "config" / "config_validation.json")),
        *("--output_path", str(folder), "--data_file", datalist),
        command={"infer": tlt_infer, "evaluate": tlt_evaluate}[command],
    )
    assert code == 2 and f"--output_path {folder}: " in stderr and expected in stderr, stderr
    assert stdout == "" and taken.read_text() == "mine"
    code, stdout, stderr = mmar_run(command, trained_mmar, "--set", f"MMAR_EVAL_OUTPUT_PATH={folder}")
    assert code == 2 and f"MMAR_EVAL_OUTPUT_PATH {folder}: " in stderr and expected in stderr, stderr
    assert stdout == ""


def test_a_writer_folder_of_the_config_is_checked_too(
    trained_mmar: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    config = json.loads((trained_mmar / "config" / "config_validation.json").read_text())
    (tmp_path / "taken").write_text("mine")
    for writer in config["writers"]:
        writer.setdefault("args", {})["write_path"] = str(tmp_path / "taken")
    path = write_json(tmp_path / "config_validation.json", config)
    datalist = json.loads((trained_mmar / "config" / "environment.json").read_text())["DATASET_JSON"]
    code, _, stderr = tlt_run(trained_mmar, Path(datalist), tmp_path / "out", config=path)
    assert code == 2 and "the writer's write_path" in stderr and "is a file, not a folder" in stderr


def test_the_dry_run_checks_the_outputs_as_the_real_run_does(
    trained_mmar: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    (tmp_path / "taken").write_text("mine")
    code, _, stderr = mmar_run(
        "evaluate", trained_mmar, "--dry-run", "--set", f"MMAR_EVAL_OUTPUT_PATH={tmp_path / 'taken'}"
    )
    assert code == 2 and f"MMAR_EVAL_OUTPUT_PATH {tmp_path / 'taken'}: is a file" in stderr, stderr
    gz = _copy(_image_of(trained_mmar, "case_002"), tmp_path / "d" / "ct.nii.gz")
    plain = tmp_path / "d" / "ct.nii"
    nib.save(nib.load(gz), plain)
    code, _, stderr = tlt_run(trained_mmar, _datalist(tmp_path, [plain, gz]), tmp_path / "out", "--dry-run")
    assert code == 4 and f"'ct': {plain}, {gz}" in stderr, stderr
