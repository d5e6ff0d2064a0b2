"""Crashes and interrupts lose nothing: kill -9 or Ctrl-C, then the same command resumes and ends where an
uninterrupted run ends (CPU, determinism seeds of the seed config)."""

from __future__ import annotations

import json
import shutil
import signal
import time
from pathlib import Path

import pytest
import torch

from tests.engines.conftest import clara_tlt

EPOCHS = "epochs=6"


def train_command(mmar: Path) -> list[str]:
    return ["train", "-m", str(mmar), "-c", "config/config_train.json", "--set", EPOCHS]


def losses(mmar: Path) -> list[float]:
    summary = json.loads((mmar / "models" / "train_summary.json").read_text())
    return [h["loss"] for h in summary["history"]]


def wait_for_model(mmar: Path, process, timeout: float = 120.0) -> None:  # type: ignore[no-untyped-def]
    """Until the first model.pt: the first epoch is validated, and its train_state.pt may not be written yet."""
    deadline = time.monotonic() + timeout
    model = mmar / "models" / "model.pt"
    while not model.exists():
        assert process.poll() is None, process.stdout.read()
        assert time.monotonic() < deadline, "no model.pt in time"
        time.sleep(0.01)


@pytest.fixture
def reference(unet_mmar: Path, tmp_path: Path) -> list[float]:
    """The epoch losses of an uninterrupted run of the same config."""
    mmar = tmp_path / "reference"
    shutil.copytree(unet_mmar, mmar)
    process = clara_tlt(*train_command(mmar))
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output
    return losses(mmar)


def test_kill_9_then_rerun_resumes_and_matches(unet_mmar: Path, reference: list[float]) -> None:
    process = clara_tlt(*train_command(unet_mmar))
    wait_for_model(unet_mmar, process)
    process.kill()  # SIGKILL: no handler runs
    process.communicate(timeout=60)
    torch.load(unet_mmar / "models" / "train_state.pt", weights_only=True)  # there and loadable at any moment

    rerun = clara_tlt(*train_command(unet_mmar))
    output, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, output
    assert "Resuming from" in output
    assert losses(unet_mmar) == pytest.approx(reference, rel=1e-6, abs=1e-9)


def test_sigint_saves_exits_130_and_resumes(unet_mmar: Path, reference: list[float]) -> None:
    process = clara_tlt(*train_command(unet_mmar))
    wait_for_model(unet_mmar, process)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 130, output
    assert "run the same command again to resume" in output
    if "finishing this iteration" in output:  # stopped mid-epoch: that epoch's progress is in the state
        saved = torch.load(unet_mmar / "models" / "train_state.pt", weights_only=True)
        assert saved["trainer"]["epoch_iteration"] >= 1 or saved["trainer"]["epoch"] >= 1

    rerun = clara_tlt(*train_command(unet_mmar))
    output, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, output
    assert losses(unet_mmar) == pytest.approx(reference, rel=1e-6, abs=1e-9)
