"""One training per model folder, no crash window, and TensorBoard steps kept across a resume."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch

from clara_tlt.engines.model_folder import ModelFolder
from clara_tlt.errors import UsageError
from tests.conftest import write_json
from tests.engines.test_outputs import deny_writes_in
from tests.engines.test_train import run, train_mmar

COMMAND = ("train", "-m", "{mmar}", "-c", "config/config_train.json", "--set", "epochs=1")


def command(mmar: Path, *extra: str) -> list[str]:
    return [part.format(mmar=mmar) for part in COMMAND] + list(extra)


def test_a_second_training_into_a_held_folder_exits_2_naming_the_first_then_trains(unet_mmar: Path) -> None:
    folder = ModelFolder(unet_mmar / "models", "-r/--model_dir")
    with folder.lock(hold=True):
        code, output = run(*command(unet_mmar))  # its own open file description: flock conflicts
        assert code == 2, output
        assert (
            f"another training is writing {folder.path} (pid {os.getpid()} on {socket.gethostname()} since"
            in output
        )
        code, output = run(*command(unet_mmar, "--dry-run"))
        assert code == 2 and f"pid {os.getpid()}" in output
        with pytest.raises(UsageError, match="another training"), folder.lock(hold=True):
            pass
    leftovers = [folder.path / ".model.k2x9.incomplete.pt", folder.path / ".train_state.a1b2.incomplete.pt"]
    unrelated = folder.path / ".ct.a1b2.incomplete.nii.gz"  # not a file training writes: left alone
    for path in [*leftovers, unrelated]:
        path.write_bytes(b"half a checkpoint")
    code, output = run(*command(unet_mmar))
    assert code == 0, output
    assert not any(path.exists() for path in leftovers) and unrelated.exists()
    assert (folder.path / "train.lock").read_text() == ""  # released: no holder named


def test_a_model_folder_that_is_a_file_is_named_with_its_flag_before_any_work(unet_mmar: Path) -> None:
    (unet_mmar / "models").write_text("not a folder")
    for extra in ((), ("--dry-run",)):
        code, output = run(*command(unet_mmar, *extra))
        assert code == 2, output
        assert f"{unet_mmar / 'models'}: is a file, not a folder" in output
        assert "MMAR_CKPT_DIR" in output and "Traceback" not in output


def test_a_read_only_model_folder_is_named_with_its_flag(
    unet_mmar: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked_parent = tmp_path / "read_only"
    locked_parent.mkdir()
    deny_writes_in(locked_parent, monkeypatch)
    for extra in ((), ("--dry-run",)):
        code, output = run(*command(unet_mmar, "--set", f"MMAR_CKPT_DIR={locked_parent / 'models'}", *extra))
        assert code == 2 and "cannot write there (its parent" in output and "MMAR_CKPT_DIR" in output
        assert not (locked_parent / "models").exists()


KILL_AFTER_FIRST_MODEL = """
from pathlib import Path

from clara_tlt.engines.trainer import Handler


class Killed(BaseException):
    pass


class KillOnceAfterFirstModel(Handler):
    def validated(self, trainer):  # after the checkpoint saver wrote model.pt, before train_state.pt
        marker = Path(__file__).with_name("killed_once")
        if not marker.exists():
            marker.touch()
            raise Killed
"""


def test_a_kill_right_after_the_first_model_resumes_and_tensorboard_keeps_every_step(
    unet_mmar: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (unet_mmar / "custom").mkdir()
    (unet_mmar / "custom" / "killer.py").write_text(KILL_AFTER_FIRST_MODEL)
    config_file = unet_mmar / "config" / "config_train.json"
    config = json.loads(config_file.read_text())
    config["train"]["handlers"] = [{"path": "killer.KillOnceAfterFirstModel"}]
    write_json(config_file, config)
    models = unet_mmar / "models"
    with pytest.raises(BaseException) as killed:  # like a kill -9: no handler saves anything more
        train_mmar(unet_mmar, "epochs=1")
    assert type(killed.value).__name__ == "Killed"
    assert (models / "model.pt").is_file()
    assert torch.load(models / "train_state.pt", weights_only=True)["trainer"]["epoch"] == 0

    with caplog.at_level("INFO"):
        code, output = run(*command(unet_mmar))  # the same command resumes by itself
    assert code == 0, output
    assert "Resuming from" in caplog.text and "0 epoch(s) and 0 iteration(s) done" in caplog.text
    code, output = run(*command(unet_mmar, "--set", "epochs=2"))  # train on
    assert code == 0, output
    steps = [event.step for event in EventAccumulator(str(models)).Reload().Scalars("train_loss")]
    assert steps == [1, 2, 3, 4]  # 2 volumes an epoch: each step once, none lost or repeated


def test_a_folder_with_another_runs_model_and_no_state_is_refused(unet_mmar: Path) -> None:
    (unet_mmar / "models").mkdir()
    (unet_mmar / "models" / "model.pt").write_bytes(b"someone's model")
    code, output = run(*command(unet_mmar))
    assert code == 2, output
    assert "no train_state.pt to resume from; add --force" in output
    assert (unet_mmar / "models" / "model.pt").read_bytes() == b"someone's model"
