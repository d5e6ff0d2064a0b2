"""`--shard I/N` of infer and evaluate: array jobs of a cluster split the cases, and the shards' outputs are one
run's outputs (names decided over the whole datalist), disjoint and complete; bad shards are usage errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from clara_tlt.cli.evaluate import tlt_command as tlt_evaluate
from tests.conftest import write_json
from tests.engines.test_infer import _image_of, mmar_run, tlt_run, trained_mmar
from tests.test_cli import invoke_streams

__all__ = ["trained_mmar"]  # the session fixture of test_infer.py, used here too


def _clashing_datalist(mmar: Path, tmp_path: Path) -> Path:
    """Three cases, the first two both named `ct`: only the whole list tells them apart (`a_ct`, `b_ct`)."""
    entries = []
    for folder, case in (("a", "case_002"), ("b", "case_003"), ("c", "case_002")):
        target = tmp_path / "data" / folder / ("ct.nii.gz" if folder != "c" else "other.nii.gz")
        target.parent.mkdir(parents=True)
        shutil.copy(_image_of(mmar, case), target)
        entries.append({"image": str(target)})
    return write_json(tmp_path / "datalist.json", {"validation": entries})


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_two_shards_write_one_runs_outputs_disjoint_and_complete(trained_mmar: Path, tmp_path: Path) -> None:
    data_file = _clashing_datalist(trained_mmar, tmp_path)
    code, _, stderr = tlt_run(trained_mmar, data_file, tmp_path / "whole")
    assert code == 0, stderr
    parts = []
    for index in (0, 1):
        code, stdout, stderr = tlt_run(
            trained_mmar, data_file, tmp_path / f"shard{index}", "--shard", f"{index}/2", "--json"
        )
        assert code == 0, stderr
        assert json.loads(stdout)["cases"] == (2, 1)[index]  # cases 0, 2 and case 1
        parts.append(_files(tmp_path / f"shard{index}"))
    whole = _files(tmp_path / "whole")
    assert not parts[0].keys() & parts[1].keys()
    assert parts[0] | parts[1] == whole  # same names (a_ct beside b_ct, not ct), same bytes
    assert {Path(name).parts[0] for name in parts[0]} == {"a_ct", "other"}


def test_a_shard_without_cases_writes_nothing_and_says_so(trained_mmar: Path, tmp_path: Path) -> None:
    data_file = _clashing_datalist(trained_mmar, tmp_path)
    code, stdout, stderr = tlt_run(trained_mmar, data_file, tmp_path / "out", "--shard", "3/4")
    assert code == 0, stderr
    assert "shard 3/4 holds no case" in stdout
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("shard", ["2/2", "-1/3", "a/b", "0/0", "1"])
@pytest.mark.parametrize("command", ["infer", "evaluate", "tlt-evaluate"])
def test_a_bad_shard_is_a_usage_error_with_the_accepted_form(
    command: str, shard: str, tmp_path: Path
) -> None:
    if command == "tlt-evaluate":
        args = [
            "--model_save_path",
            "m.pt",
            "--config",
            "c.json",
            "--output_path",
            "o",
            "--data_file",
            "d.json",
        ]
        code, _, stderr = invoke_streams(*args, "--shard", shard, command=tlt_evaluate)
    else:
        code, _, stderr = invoke_streams(command, "-m", str(tmp_path), "-c", "c.json", "--shard", shard)
    assert code == 2
    assert f"'{shard}' is not a shard; give I/N with 0 <= I < N" in stderr


def test_evaluate_shards_write_their_reports_apart(trained_mmar: Path) -> None:
    for index in (0, 1):
        code, stdout, stderr = mmar_run("evaluate", trained_mmar, "--shard", f"{index}/2")
        assert code == 0, stderr
        summary = json.loads(stdout)
        assert summary["cases"] == 1
        assert all(f"shard_{index}_of_2" in Path(path).parent.name for path in summary["files"].values())
    reports = [
        json.loads((trained_mmar / "eval" / f"shard_{i}_of_2" / "metrics.json").read_text()) for i in (0, 1)
    ]
    files = [case["file"] for report in reports for case in report["cases"]]
    assert sorted(Path(f).name for f in files) == ["case_002.nii.gz", "case_003.nii.gz"]
