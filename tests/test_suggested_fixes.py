"""The way out a message gives works: each test triggers a message, takes the fix from its text, runs it, and
checks that the run gets past that error.

Covered here: the config layer (unknown `{NAME}` → `--set NAME=VALUE`; `--set` without `=` → its two examples;
a mistyped `--set` key or component name → did-you-mean), `multi_gpu` outside torchrun (the
torchrun command its note prints), the keys "out of GPU memory" says to lower with --set,
and "run with --debug". Elsewhere: pull's fixes in tests/hub/test_pull_fixes.py, dataconvert's `-f` in
test_dataconvert.py, pull's `--force` in tests/hub/test_pull_cli.py. Not reachable from the command line
(Python callers only): "no model folder" and "no output folder" (the CLI always has one).
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from clara_tlt.cli.train import tlt_command
from tests.test_cli import invoke_streams

TRAIN = ("-c", "config/config_train.json")


def sets_in(message: str) -> list[str]:
    """The `--set NAME=VALUE` items a message suggests."""
    return re.findall(r"--set ([\w.]+=[^\s,;)]*)", message)


def without_pretrain_variable(mmar: Path) -> None:
    environment = mmar / "config" / "environment.json"
    data = json.loads(environment.read_text())
    del data["PRETRAIN_WEIGHTS_FILE"]
    environment.write_text(json.dumps(data))


def test_unknown_variable_fix_in_the_tlt_dialect(spleen_mmar: Path, synthetic_dataset: Path) -> None:
    """The seed spleen config as written, through tlt-train: no environment.json can define the variable."""
    args = ["segmentation", "-e", str(spleen_mmar / "config" / "config_train.json")]
    args += ["-d", str(synthetic_dataset), "-r", str(spleen_mmar / "out"), "--dry-run"]
    code, _, stderr = invoke_streams(*args, command=tlt_command)
    assert code == 3 and "unknown variable '{PRETRAIN_WEIGHTS_FILE}'" in stderr
    assert sets_in(stderr) == ["PRETRAIN_WEIGHTS_FILE=VALUE", "PRETRAIN_WEIGHTS_FILE="]
    code, stdout, stderr = invoke_streams(*args, "--set", sets_in(stderr)[1], command=tlt_command)
    assert code == 0, stderr  # an empty value: no pretrained weights
    assert "every component built" in stdout


def test_unknown_variable_fix_in_the_mmar_dialect(spleen_mmar: Path, tmp_path: Path) -> None:
    without_pretrain_variable(spleen_mmar)
    code, _, stderr = invoke_streams("train", "-m", str(spleen_mmar), *TRAIN, "--dry-run")
    assert code == 3 and "unknown variable '{PRETRAIN_WEIGHTS_FILE}'" in stderr
    weights = (
        tmp_path / "none.pt"
    )  # a VALUE that names a file that is not there is refused: the fix was taken
    fixed = [sets_in(stderr)[0].replace("VALUE", str(weights))]
    code, _, stderr = invoke_streams("train", "-m", str(spleen_mmar), *TRAIN, "--dry-run", "--set", *fixed)
    assert code == 3 and "none.pt" in stderr and "unknown variable" not in stderr


def test_set_without_equals_gives_examples_that_run(spleen_mmar: Path) -> None:
    code, _, stderr = invoke_streams("train", "-m", str(spleen_mmar), *TRAIN, "--dry-run", "--set", "epochs")
    assert code == 2
    examples = sets_in(stderr)
    assert len(examples) == 2, stderr
    for example in examples:
        code, _, stderr = invoke_streams(
            "train", "-m", str(spleen_mmar), *TRAIN, "--dry-run", "--set", example
        )
        assert code == 0, (example, stderr)


@pytest.mark.parametrize(
    ("typo", "wrong"),
    [("epoch=3", "epoch"), ("train.los.name=Dice", "los"), ("train.loss.name=Dcie", "Dcie")],
)
def test_a_mistyped_set_key_suggests_the_key_that_works(spleen_mmar: Path, typo: str, wrong: str) -> None:
    code, _, stderr = invoke_streams("train", "-m", str(spleen_mmar), *TRAIN, "--dry-run", "--set", typo)
    assert code == 3
    suggested = re.search(r"did you mean '([^']+)'", stderr)
    assert suggested, stderr
    fixed = typo.replace(wrong, suggested.group(1), 1)
    code, _, stderr = invoke_streams("train", "-m", str(spleen_mmar), *TRAIN, "--dry-run", "--set", fixed)
    assert code == 0, stderr


class ReachedTheWorkflow(Exception):
    """Raised in place of building the workflow: the run got past the checks before it."""


def test_multi_gpu_outside_torchrun_runs_in_one_process_and_names_torchrun(
    spleen_mmar: Path,
    synthetic_dataset: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A config written for several GPUs runs here in one process; the note's torchrun command is valid."""

    def reached(*args: object, **kwargs: object) -> None:
        raise ReachedTheWorkflow("reached the workflow")

    monkeypatch.setattr("clara_tlt.engines.training.build_workflow", reached)
    tlt = [
        "segmentation",
        "-e",
        str(spleen_mmar / "config" / "config_train.json"),
        "-d",
        str(synthetic_dataset),
    ]
    tlt += ["-r", str(spleen_mmar / "out"), "--set", "PRETRAIN_WEIGHTS_FILE=", "--set", "multi_gpu=true"]
    with caplog.at_level("INFO"):
        code, _, stderr = invoke_streams(*tlt, command=tlt_command)
    assert code == 1 and "reached the workflow" in stderr  # past every check, in this one process
    assert caplog.text.count("multi_gpu is true: this run uses one process") == 1

    hint = shlex.split(caplog.text.split("torchrun --nproc_per_node=NUM_GPUS", 1)[1].split("\n", 1)[0])
    assert hint[0] == "$(which" and hint[1] == "tlt-train)"  # torchrun runs the script by its path
    monkeypatch.setenv("WORLD_SIZE", "2")  # as under torchrun
    caplog.clear()
    with caplog.at_level("INFO"):
        code, _, stderr = invoke_streams(*hint[2:], "--dry-run", command=tlt_command)
    assert code == 0, stderr
    assert "multi_gpu is true" not in caplog.text  # under torchrun there is nothing to say


def test_out_of_gpu_memory_names_keys_that_set_accepts(
    spleen_mmar: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    def out_of_memory(*args: object, **kwargs: object) -> None:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory (faked)")

    monkeypatch.setattr("clara_tlt.engines.training.build_workflow", out_of_memory)
    code, _, stderr = invoke_streams("train", "-m", str(spleen_mmar), *TRAIN)
    assert code == 1 and "out of GPU memory" in stderr and "(with --set)" in stderr
    monkeypatch.undo()
    key = re.search(r"lower ((?:train|validate)\.[\w.]+)", stderr)
    assert key, stderr
    code, _, stderr = invoke_streams(
        "train", "-m", str(spleen_mmar), *TRAIN, "--dry-run", "--set", f"{key.group(1)}=1"
    )
    assert code == 0, stderr


def test_run_with_debug_shows_the_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(kind: str | None) -> list[object]:
        raise RuntimeError("broken catalogue")

    monkeypatch.setattr("clara_tlt.cli.components.catalogue", broken)
    code, _, stderr = invoke_streams("components")
    assert code == 1 and "run with --debug for the traceback" in stderr and "Traceback" not in stderr
    code, _, stderr = invoke_streams("components", "--debug")
    assert code == 1 and "Traceback (most recent call last)" in stderr and "broken catalogue" in stderr
