"""Checkpoints on a full disk: the training run fails saying so, and the checkpoints already there are kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults import fill_disk, leftovers
from tests.test_cli import invoke_streams


def test_a_checkpoint_write_on_a_full_disk_fails_the_run_and_keeps_model_pt(
    unet_mmar: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train = ("train", "-m", str(unet_mmar), "-c", "config/config_train.json", "--set")
    code, _, stderr = invoke_streams(*train, "epochs=1")
    assert code == 0, stderr
    models = unet_mmar / "models"
    older = {name: (models / name).read_bytes() for name in ("model.pt", "train_state.pt")}

    fill_disk(monkeypatch, room=4096, where=lambda name: name.endswith(".pt"))
    code, _, stderr = invoke_streams(
        *train, "epochs=2"
    )  # resumes, then its first checkpoint meets a full disk
    assert code == 1, stderr
    assert "basic_ios" not in stderr and "Traceback" not in stderr
    assert f".pt: not written: no space left on the device holding {models}" in stderr
    assert {name: (models / name).read_bytes() for name in older} == older
    assert leftovers(models) == []
