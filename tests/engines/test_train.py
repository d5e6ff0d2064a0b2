"""The training engine from a user's seat: outputs, best checkpoint, fine-tuning, refusals, errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from clara_tlt.config import load_config, parse_overrides
from clara_tlt.engines.checkpoint import network_from_checkpoint
from clara_tlt.engines.training import train
from tests.conftest import write_json
from tests.engines.conftest import tiny_train_config
from tests.test_cli import invoke_streams


def run(*args: str) -> tuple[int, str]:
    """`clara-tlt ARGS` through the console script's runner: (exit code, stdout + stderr)."""
    code, stdout, stderr = invoke_streams(*args)
    return code, stdout + stderr


def train_mmar(mmar: Path, *sets: str, **options: object) -> dict:
    config = load_config(
        "config/config_train.json",
        environment_path="config/environment.json",
        mmar_root=mmar,
        overrides=parse_overrides(sets),
    )
    return train(config, **options)  # type: ignore[arg-type]


def test_unet_run_writes_the_mmar_outputs_and_learns(unet_mmar: Path) -> None:
    code, stdout, stderr = invoke_streams(
        "train", "-m", str(unet_mmar), "-c", "config/config_train.json", "--json"
    )
    assert code == 0, stderr
    summary = json.loads(stdout)
    models = unet_mmar / "models"
    for name in ("model.pt", "model_final.pt", "train_state.pt", "train_config.json", "train_summary.json"):
        assert (models / name).is_file(), name
    assert json.loads((models / "train_summary.json").read_text()) == summary
    assert list(models.glob("events.out.tfevents.*")), "no TensorBoard events"
    assert not list(models.glob(".*incomplete*")), "a temporary file was left behind"

    final = torch.load(models / "model_final.pt", weights_only=True)
    assert set(final) == {"model", "train_conf", "epoch", "metric"}
    assert final["epoch"] == 3 and final["train_conf"]["train"]["model"]["name"] == "UNet"
    history = summary["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[-1]["loss"] < history[0]["loss"], history

    # model.pt holds the weights of the epoch with the best key metric, and says which
    best = torch.load(models / "model.pt", weights_only=True)
    dice = [h["metrics"]["mean_dice"] for h in history]
    assert best["metric"] == pytest.approx(max(dice)) == pytest.approx(summary["best_metric"])
    assert best["epoch"] == summary["best_epoch"] == dice.index(max(dice)) + 1


def test_tensorboard_holds_loss_lr_and_the_metric(unet_mmar: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train_mmar(unet_mmar, "epochs=1")
    events = EventAccumulator(str(unet_mmar / "models")).Reload()
    scalars = set(events.Tags()["scalars"])
    assert {"train_loss", "learning_rate", "epoch_loss", "mean_dice"} <= scalars
    assert len(events.Scalars("train_loss")) == 2  # 2 training volumes, one batch each
    assert {"validation/image", "validation/label", "validation/prediction"} <= set(events.Tags()["images"])


def test_train_summary_recording_interval_sets_how_often_the_loss_is_recorded(unet_mmar: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train_mmar(unet_mmar, "epochs=2", "train_summary_recording_interval=3")  # iterations 1..4
    events = EventAccumulator(str(unet_mmar / "models")).Reload()
    assert [e.step for e in events.Scalars("train_loss")] == [3]
    shutil.rmtree(unet_mmar / "models")
    train_mmar(unet_mmar, "epochs=2", "train_summary_recording_interval=0")  # once per epoch
    events = EventAccumulator(str(unet_mmar / "models")).Reload()
    losses = [(e.step, e.value) for e in events.Scalars("train_loss")]
    epoch_losses = [e.value for e in events.Scalars("epoch_loss")]
    assert [step for step, _ in losses] == [2, 4]
    assert [value for _, value in losses] == pytest.approx(epoch_losses)


def test_use_tf32_sets_torchs_tf32_switches_and_use_xla_is_said_to_do_nothing(
    unet_mmar: Path, caplog: pytest.LogCaptureFixture
) -> None:
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    try:
        with caplog.at_level("INFO"):
            train_mmar(unet_mmar, "epochs=1", "use_tf32=true", "use_xla=true")
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
        assert "use_xla: XLA compiled TensorFlow graphs" in caplog.text
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def test_lr_policy_steps_per_iteration_and_validation_follows_its_cadence(unet_mmar: Path) -> None:
    summary = train_mmar(
        unet_mmar,
        "epochs=3",
        "num_training_epoch_per_valid=2",
        "train.lr_policy.args.decay_freq=1",
        "train.lr_policy.args.decay_ratio=0.5",
    )
    assert [h["epoch"] for h in summary["history"] if "metrics" in h] == [
        2,
        3,
    ]  # every 2nd epoch and the last
    state = torch.load(unet_mmar / "models" / "train_state.pt", weights_only=True)
    assert state["trainer"]["iteration"] == 6  # 2 volumes a epoch
    assert state["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.01 * 0.5**6)


def stop_early_and_follow_the_key_metric(mmar: Path) -> None:
    """The MMAR's training config with EarlyStop (after two validations without a new best), StatsHandler and a
    ReduceOnPlateau lr policy that halves the rate at each such validation."""
    config_file = mmar / "config" / "config_train.json"
    config = json.loads(config_file.read_text())
    config["train"]["handlers"] = [
        {"name": "EarlyStop", "args": {"val_times_threshold": 2}},
        {"name": "StatsHandler"},
    ]
    config["train"]["lr_policy"] = {
        "name": "ReduceOnPlateau",
        "args": {"plateau_count_trigger": 0, "reduction_rate": 0.5},
    }
    write_json(config_file, config)


def test_config_handlers_run_and_reduce_on_plateau_follows_the_key_metric(unet_mmar: Path) -> None:
    """A learning rate too small to change any prediction keeps the key metric flat: ReduceOnPlateau halves
    the rate after each validation without a new best, and EarlyStop ends the run after two of them."""
    stop_early_and_follow_the_key_metric(unet_mmar)
    summary = train_mmar(unet_mmar, "epochs=6", "learning_rate=1e-12")
    assert summary["epochs"] == 3 and summary["best_epoch"] == 1
    final = torch.load(unet_mmar / "models" / "model_final.pt", weights_only=True)
    assert final["epoch"] == 3
    state = torch.load(unet_mmar / "models" / "train_state.pt", weights_only=True)
    assert state["optimizer"]["param_groups"][0]["lr"] == pytest.approx(1e-12 * 0.25)


STOP_AFTER_VALIDATION = """
from clara_tlt.engines.trainer import Handler


class StopAfterFirstValidation(Handler):
    def validated(self, trainer):
        trainer.state.stop_requested = trainer.state.epoch == 1  # as a Ctrl-C during validation would
"""


def test_a_stop_during_validation_ends_at_the_epoch_boundary_and_resumes(unet_mmar: Path) -> None:
    (unet_mmar / "custom").mkdir()
    (unet_mmar / "custom" / "stopper.py").write_text(STOP_AFTER_VALIDATION)
    config_file = unet_mmar / "config" / "config_train.json"
    config = json.loads(config_file.read_text())
    config["train"]["handlers"] = [{"path": "stopper.StopAfterFirstValidation"}]
    write_json(config_file, config)
    command = ("train", "-m", str(unet_mmar), "-c", "config/config_train.json", "--set", "epochs=2")
    code, output = run(*command)
    assert code == 130 and "stopped after 1 epoch(s) and 0 iteration(s) of the next" in output
    state = torch.load(unet_mmar / "models" / "train_state.pt", weights_only=True)["trainer"]
    assert (state["epoch"], state["epoch_iteration"]) == (1, 0)
    code, output = run(*command)
    assert code == 0, output
    assert torch.load(unet_mmar / "models" / "model_final.pt", weights_only=True)["epoch"] == 2


def test_rerun_without_state_refuses_then_force_starts_over(unet_mmar: Path) -> None:
    train_mmar(unet_mmar, "epochs=1")
    (unet_mmar / "models" / "train_state.pt").unlink()
    code, output = run("train", "-m", str(unet_mmar), "-c", "config/config_train.json", "--set", "epochs=1")
    assert code == 2 and "--force" in output
    code, output = run("train", "-m", str(unet_mmar), "-c", "config/config_train.json", "--no-resume")
    assert code == 2 and "--force" in output
    code, output = run(
        "train",
        "-m",
        str(unet_mmar),
        "-c",
        "config/config_train.json",
        "--no-resume",
        "-f",
        "--set",
        "epochs=1",
    )
    assert code == 0, output


def test_resume_with_another_config_names_the_differing_key(unet_mmar: Path) -> None:
    train_mmar(unet_mmar, "epochs=1")
    code, output = run(
        "train",
        "-m",
        str(unet_mmar),
        "-c",
        "config/config_train.json",
        "--set",
        "epochs=2",
        "learning_rate=0.5",
    )
    assert code == 3
    assert "learning_rate" in output and "0.01" in output and "0.5" in output
    assert "epochs" not in output.split("differing keys")[1].split("Restore")[0]  # epochs may change


def test_fine_tune_strict_and_partial(unet_mmar: Path, tmp_path: Path, seed_configs: Path) -> None:
    train_mmar(unet_mmar, "epochs=1")
    weights = unet_mmar / "models" / "model.pt"
    datalist = json.loads((unet_mmar / "config" / "environment.json").read_text())["DATASET_JSON"]
    config = tiny_train_config(seed_configs, epochs=1)
    write_json(tmp_path / "same.json", config)
    config["train"]["model"]["args"]["out_channels"] = 3  # a new head
    write_json(tmp_path / "new_head.json", config)
    tlt = ["segmentation", "-d", datalist, "-c", str(weights)]

    from clara_tlt.cli.train import tlt_command

    def tlt_train(config_file: str, out: str, *extra: str) -> tuple[int, str]:
        code, stdout, stderr = invoke_streams(
            *tlt, "-e", config_file, "-r", str(tmp_path / out), *extra, command=tlt_command
        )
        return code, stdout + stderr

    code, output = tlt_train(str(tmp_path / "same.json"), "same")
    assert code == 0, output
    code, output = tlt_train(str(tmp_path / "new_head.json"), "strict")
    assert code == 3
    assert "different shape (2)" in output and "partial_load" in output
    assert not (tmp_path / "strict" / "model.pt").exists()
    code, output = tlt_train(str(tmp_path / "new_head.json"), "partial", "--set", "partial_load=true")
    assert code == 0, output
    tuned = torch.load(tmp_path / "partial" / "model_final.pt", weights_only=True)["model"]
    assert tuned[next(k for k in tuned if k.endswith("weight"))].shape[0] == 4  # the encoder was loaded


def test_a_multi_gpu_amp_config_trains_in_one_process_with_one_note_each(
    unet_mmar: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO"):
        code, output = run(
            "train",
            "-m",
            str(unet_mmar),
            "-c",
            "config/config_train.json",
            "--set",
            "multi_gpu=true",
            "--set",
            "use_amp=true",
            "--set",
            "epochs=2",
        )
    assert code == 0, output
    assert (unet_mmar / "models" / "model_final.pt").is_file()
    command = (
        f"torchrun --nproc_per_node=NUM_GPUS -m clara_tlt train -m {unet_mmar} -c config/config_train.json"
    )
    assert caplog.text.count("multi_gpu is true: this run uses one process") == 1
    assert command in caplog.text
    if not torch.cuda.is_available():  # said once per run, not once per epoch
        assert caplog.text.count("use_amp is ignored on CPU") == 1


NAN_LOSS = """
import torch


class NanOnThirdCall:
    def __init__(self):
        self.calls = 0

    def __call__(self, output, label):
        self.calls += 1
        loss = output.mean() * 0 + 1.0
        return loss * float("nan") if self.calls == 3 else loss
"""


def test_a_loss_that_becomes_nan_stops_with_the_iteration_and_keeps_the_last_state(unet_mmar: Path) -> None:
    (unet_mmar / "custom").mkdir()
    (unet_mmar / "custom" / "nanloss.py").write_text(NAN_LOSS)
    code, output = run(
        "train",
        "-m",
        str(unet_mmar),
        "-c",
        "config/config_train.json",
        "--set",
        "epochs=2",
        'train.loss={"path": "nanloss.NanOnThirdCall"}',
    )
    assert code == 1
    assert "the loss became nan at epoch 2, iteration 1" in output, output
    state = torch.load(unet_mmar / "models" / "train_state.pt", weights_only=True)
    assert state["trainer"]["epoch"] == 1
    assert not (unet_mmar / "models" / "model_final.pt").exists()


def test_load_from_mmar_reads_a_unet_run(unet_mmar: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """MONAI's reader of Clara 4.x MMARs builds the network from model.pt's train_conf and loads its weights
    (its download step, which needs the network, is replaced by the MMAR folder at hand)."""
    from monai.apps import load_from_mmar
    from monai.apps.mmars import mmars
    from monai.networks.nets import UNet

    train_mmar(unet_mmar, "epochs=1")
    monkeypatch.setattr(mmars, "download_mmar", lambda **_: unet_mmar)
    network = load_from_mmar({"name": "tiny_unet"}, mmar_dir=unet_mmar.parent, api=False, map_location="cpu")
    assert isinstance(network, UNet)
    saved = torch.load(unet_mmar / "models" / "model.pt", weights_only=True)["model"]
    assert all(torch.equal(network.state_dict()[k], v) for k, v in saved.items())

    ours, checkpoint = network_from_checkpoint(unet_mmar / "models" / "model.pt")
    assert type(ours) is UNet and checkpoint["epoch"] == 1 and not ours.training
    assert all(torch.equal(ours.state_dict()[k], v) for k, v in saved.items())
