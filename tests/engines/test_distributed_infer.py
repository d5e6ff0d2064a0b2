"""torchrun spreads infer's cases: two CPU processes (gloo) write exactly what one process writes, and a case that
fails on one rank is reported once, like any failed case (rank 0 exits 5; torchrun itself exits 1 whenever a
rank fails, naming that rank's code), without hanging or cutting short the other rank."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from clara_tlt.io import read_image, write_image
from tests.conftest import write_json
from tests.engines.test_infer import _image_of, trained_mmar
from tests.engines.test_shard import _files
from tests.torchrun import torchrun

__all__ = ["trained_mmar"]  # the session fixture of test_infer.py, used here too


def _infer(mmar: Path, data_file: Path, output: Path, *, ranks: int) -> subprocess.CompletedProcess[str]:
    """`clara-tlt infer` of `data_file` into `output`, in one process or under torchrun with `ranks` processes."""
    args = [
        "infer",
        "-m",
        str(mmar),
        "-c",
        "config/config_validation.json",
        "--set",
        f"DATASET_JSON={data_file}",
    ]
    return torchrun(*args, "--set", f"MMAR_EVAL_OUTPUT_PATH={output}", "--json", ranks=ranks)


def test_two_gloo_ranks_write_what_one_process_writes(trained_mmar: Path, tmp_path: Path) -> None:
    cases = [{"image": str(_image_of(trained_mmar, case))} for case in ("case_002", "case_003", "case_002")]
    cases[2] = {"image": str(tmp_path / "copy.nii.gz")}
    write_image(read_image(_image_of(trained_mmar, "case_002")), tmp_path / "copy.nii.gz")
    data_file = write_json(tmp_path / "datalist.json", {"validation": cases})

    one = _infer(trained_mmar, data_file, tmp_path / "one", ranks=1)
    assert one.returncode == 0, one.stderr
    two = _infer(trained_mmar, data_file, tmp_path / "two", ranks=2)
    assert two.returncode == 0, two.stderr
    assert json.loads(two.stdout)["cases"] == 3  # rank 0 reports every rank's cases, once
    assert _files(tmp_path / "two") == _files(tmp_path / "one") != {}


def test_a_case_failing_on_one_rank_is_reported_once_with_exit_5_and_the_other_rank_finishes(
    trained_mmar: Path, tmp_path: Path
) -> None:
    volume = read_image(_image_of(trained_mmar, "case_002"))
    volume.array = volume.array.astype("float32")
    volume.array[1, 2, 3] = float("nan")  # passes the up-front check (a MetaImage's voxels are not scanned)
    write_image(volume, tmp_path / "broken.mha")
    cases = [{"image": str(tmp_path / "broken.mha")}, {"image": str(_image_of(trained_mmar, "case_003"))}]
    data_file = write_json(tmp_path / "datalist.json", {"validation": cases})

    result = _infer(trained_mmar, data_file, tmp_path / "out", ranks=2)  # case 0 on rank 0, case 1 on rank 1
    assert result.returncode == 1, result.stdout + result.stderr  # torchrun's code for "a rank failed"
    assert "exitcode  : 5" in result.stderr and "rank      : 0" in result.stderr  # rank 0's code: partial
    assert result.stderr.count("1 of 2 case(s) failed") == 1 and "broken.mha" in result.stderr
    written = _files(tmp_path / "out")
    assert any("case_003" in name for name in written) and not any("broken" in name for name in written)
