"""`--profile` from a user's seat: each command's table names its stages, the shares add up to the wall time,
`--json` carries the same numbers, and the results are those of a run without it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest
import torch

from clara_tlt.cli.dataconvert import command as dataconvert_command
from clara_tlt.cli.evaluate import tlt_command as tlt_evaluate
from clara_tlt.cli.infer import tlt_command as tlt_infer
from clara_tlt.cli.train import tlt_command as tlt_train
from clara_tlt.engines import profile
from clara_tlt.engines.profile import NULL, Profile, current, profiling
from clara_tlt.synthetic.dicom import write_dicom_series
from tests.conftest import write_json
from tests.engines.conftest import tiny_train_config, write_validation_mmar
from tests.test_cli import invoke_streams

INFER_STAGES = ["imports", "set-up", "read/decode", "pre-transforms", "network forward", "window stitching"]
INFER_STAGES += ["post-transforms", "resample back", "write", "other"]
TRAIN_STAGES = ["imports", "set-up", "data wait", "network forward", "backward/optimizer step", "validation"]
TRAIN_STAGES += ["handlers", "checkpoint writes", "other"]
CONVERT_STAGES = ["imports", "scan inputs", "read/decode", "resample", "write", "other"]


def stage_names(summary: dict[str, Any]) -> list[str]:
    return [row["stage"] for row in summary["profile"]["stages"]]


def assert_adds_up(table: dict[str, Any]) -> None:
    """The rows' shares make 100 % and their seconds the wall time (up to the rounding of each row)."""
    rows = table["stages"]
    assert sum(r["share_percent"] for r in rows) == pytest.approx(100.0, abs=0.05 * len(rows))
    assert sum(r["wall_s"] for r in rows) == pytest.approx(table["wall_s"], abs=1e-3 * len(rows))
    assert all(r["wall_s"] >= 0 for r in rows)


def stage(table: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in table["stages"] if r["stage"] == name)


@pytest.fixture(scope="module")
def mmar(tmp_path_factory: pytest.TempPathFactory, seed_configs: Path, synthetic_dataset: Path) -> Path:
    """An MMAR with the tiny training config (one epoch) and the seed's validation config."""
    root = tmp_path_factory.mktemp("profile") / "mmar"
    write_json(root / "config" / "config_train.json", tiny_train_config(seed_configs, epochs=1))
    write_validation_mmar(root, seed_configs, synthetic_dataset, PROCESSING_TASK="segmentation")
    return root


@pytest.fixture(scope="module")
def trained(mmar: Path) -> dict[str, Any]:
    """`clara-tlt train --profile --json` on `mmar`: its summary (the model stays for infer and evaluate)."""
    code, stdout, stderr = invoke_streams(
        "train", "-m", str(mmar), "-c", "config/config_train.json", "--json"
    )
    assert code == 0, stderr
    shutil.rmtree(mmar / "models")  # that run is the reference without --profile: train again with it
    reference = json.loads(stdout)
    code, stdout, stderr = invoke_streams(
        "train", "-m", str(mmar), "-c", "config/config_train.json", "--profile", "--json"
    )
    assert code == 0, stderr
    return {"reference": reference, "profiled": json.loads(stdout)}


def test_train_table_has_its_stages_and_the_same_training(trained: dict[str, Any]) -> None:
    profiled, reference = trained["profiled"], trained["reference"]
    assert stage_names(profiled) == TRAIN_STAGES
    assert_adds_up(profiled["profile"])
    table = profiled["profile"]
    assert stage(table, "network forward")["calls"] == profiled["iterations"]
    assert stage(table, "checkpoint writes")["calls"] >= 3  # the first state, model.pt, model_final.pt, …
    assert "profile" not in reference
    assert [h["loss"] for h in profiled["history"]] == [h["loss"] for h in reference["history"]]
    assert profiled["final_metrics"] == reference["final_metrics"]


def test_tlt_train_prints_the_table(mmar: Path, synthetic_dataset: Path, tmp_path: Path) -> None:
    code, stdout, stderr = invoke_streams(
        "segmentation",
        "-e",
        str(mmar / "config" / "config_train.json"),
        "-d",
        str(synthetic_dataset),
        "-r",
        str(tmp_path / "models"),
        "--profile",
        command=tlt_train,
    )
    assert code == 0, stderr
    table = stdout[stdout.index("Profile: ") :]
    assert all(f"  {name} " in table for name in TRAIN_STAGES), table
    assert "from the command start" in table  # in-process: no start-up row


@pytest.mark.parametrize("command", ["infer", "evaluate"])
def test_mmar_infer_and_evaluate_give_the_table_as_json_and_the_same_results(
    trained: dict[str, Any], mmar: Path, command: str
) -> None:
    folder = mmar / ("infer" if command == "infer" else "eval")
    args = ("-m", str(mmar), "-c", "config/config_validation.json", "--json")
    code, stdout, stderr = invoke_streams(command, *args)
    assert code == 0, stderr
    reference, before = json.loads(stdout), outputs(folder)
    shutil.rmtree(folder)
    code, stdout, stderr = invoke_streams(command, *args, "--profile")
    assert code == 0, stderr
    summary = json.loads(stdout)
    expected = INFER_STAGES[:-1] + (["scoring", "reports"] if command == "evaluate" else []) + ["other"]
    assert stage_names(summary) == expected
    assert_adds_up(summary["profile"])
    assert stage(summary["profile"], "network forward")["calls"] >= summary["cases"]
    assert {k: v for k, v in summary.items() if k not in ("profile", "seconds")} == {
        k: v for k, v in reference.items() if k != "seconds"
    }
    after = outputs(folder)
    assert (
        before and before.keys() == after.keys() and all(np.array_equal(before[k], after[k]) for k in before)
    )


def outputs(folder: Path) -> dict[str, np.ndarray]:
    """Every NIfTI under `folder`, by relative path, as arrays."""
    return {
        str(p.relative_to(folder)): np.asarray(nib.load(p).dataobj) for p in sorted(folder.rglob("*.nii.gz"))
    }


def test_tlt_infer_and_evaluate_print_the_table(
    trained: dict[str, Any], mmar: Path, synthetic_dataset: Path
) -> None:
    for command, extra in ((tlt_infer, []), (tlt_evaluate, ["scoring", "reports"])):
        output = mmar / f"tlt_{command.name}"
        code, stdout, stderr = invoke_streams(
            "--model_save_path",
            str(mmar / "models" / "model.pt"),
            "--config",
            str(mmar / "config" / "config_validation.json"),
            "--data_file",
            str(synthetic_dataset),
            "--output_path",
            str(output),
            "--profile",
            command=command,
        )
        assert code == 0, stderr
        table = stdout[stdout.index("Profile: ") :]
        assert all(f"  {name} " in table for name in [*INFER_STAGES, *extra]), table


@pytest.fixture
def dicom_tree(tmp_path: Path) -> Path:
    rng = np.random.default_rng(5)
    for name in ("a", "b"):
        hu = rng.integers(-1000, 1500, (8, 24, 24)).astype(np.int16)
        write_dicom_series(hu, tmp_path / "dicom" / name, spacing=(0.8, 0.8, 2.5))
    return tmp_path / "dicom"


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_dataconvert_table_in_both_dialects_and_the_same_volumes(dicom_tree: Path, jobs: str) -> None:
    out = dicom_tree.parent
    base = ("-d", str(dicom_tree), "-r", "1", "-j", jobs, "--json")
    code, stdout, stderr = invoke_streams("dataconvert", *base, "-o", str(out / "plain"))
    assert code == 0, stderr
    code, stdout, stderr = invoke_streams(
        *base, "-o", str(out / "profiled"), "--profile", command=dataconvert_command
    )
    assert code == 0, stderr
    summary = json.loads(stdout)
    expected = CONVERT_STAGES[:-1] + (["worker processes"] if jobs == "2" else []) + ["other"]
    assert stage_names(summary) == expected
    assert_adds_up(summary["profile"])
    assert (
        stage(summary["profile"], "read/decode")["calls"] == 2
        and stage(summary["profile"], "write")["busy_s"] > 0
    )
    plain, profiled = outputs(out / "plain"), outputs(out / "profiled")
    assert plain.keys() == profiled.keys() and all(np.array_equal(plain[k], profiled[k]) for k in plain)


def test_console_script_counts_from_the_process_start(dicom_tree: Path) -> None:
    script = Path(sys.executable).parent / "tlt-dataconvert"
    args = [str(script), "-d", str(dicom_tree), "-o", str(dicom_tree.parent / "o"), "-j", "1", "--profile"]
    done = subprocess.run([*args, "--json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    table = json.loads(done.stdout)["profile"]
    assert table["measured_from"] == "process start"
    # the interpreter and the imports before the command: /proc counts in clock ticks (10 ms), so only > 0 holds
    # on every machine (a fast CI runner measured exactly 0.05 s)
    assert stage(table, "start-up")["wall_s"] > 0
    assert_adds_up(table)


def test_overlapping_threads_share_the_wall_time_and_nested_stages_count_once() -> None:
    with profiling() as timer:
        worker = threading.Thread(target=sleep_in, args=(timer, "write", 0.2))
        worker.start()
        with timer.stage("network forward"):
            time.sleep(0.1)
            with timer.stage("window stitching"):
                time.sleep(0.1)
        worker.join()
    table = timer.summary()
    assert_adds_up(table)
    forward, write = stage(table, "network forward"), stage(table, "write")
    assert forward["busy_s"] == pytest.approx(0.1, abs=0.05)  # its inner stage's time is not its own
    assert write["busy_s"] == pytest.approx(0.2, abs=0.05) and write["wall_s"] < 0.15  # half of it overlapped
    assert current() is NULL


def sleep_in(timer: Profile, name: str, seconds: float) -> None:
    with timer.stage(name):
        time.sleep(seconds)


def test_off_the_timer_hands_back_what_it_was_given() -> None:
    items = [1, 2]
    assert current() is NULL and NULL.iterate(items, profile.DATA_WAIT) is items
    with NULL.stage(profile.READ), NULL.stage(profile.WRITE, cuda=True):
        pass


@pytest.mark.skipif(not torch.cuda.is_available(), reason="device time needs a CUDA device")
def test_cuda_stages_report_device_time_and_peak_memory() -> None:
    with profiling() as timer, timer.stage(profile.FORWARD, cuda=True):
        x = torch.randn(2048, 2048, device="cuda")
        (x @ x).sum().item()
    table = timer.summary()
    assert stage(table, profile.FORWARD)["device_s"] > 0
    assert table["peak_device_memory_bytes"] >= 2048 * 2048 * 4
