"""The command line: lazy help, both dialects, --dry-run, exit codes, console scripts."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from clara_tlt import __version__
from clara_tlt.cli.main import SUBCOMMANDS, cli
from clara_tlt.cli.runner import run
from tests.conftest import REPO, write_json

BIN = Path(sys.executable).parent


def invoke(*args: str) -> tuple[int, str]:
    """Run `clara-tlt ARGS` in-process through the console script's runner; (exit code, stdout + stderr)."""
    code, stdout, stderr = invoke_streams(*args)
    return code, stdout + stderr


def invoke_streams(*args: str, command: click.Command = cli) -> tuple[int, str, str]:
    """Like `invoke`, with stdout and stderr apart (for --json output); `command` defaults to `clara-tlt`."""
    with CliRunner().isolation() as (stdout, stderr, _):
        try:
            run(command, list(args), prog_name=command.name)
            code: int | str | None = 0
        except SystemExit as exc:
            code = exc.code
        sys.stdout.flush()  # what was written without click.echo (a traceback) is still buffered
        sys.stderr.flush()
    return int(code or 0), stdout.getvalue().decode(), stderr.getvalue().decode()


@pytest.mark.parametrize(
    "script",
    ["clara-tlt", "tlt-train", "tlt-infer", "tlt-evaluate", "tlt-export", "tlt-dataconvert", "tlt-pull"],
)
def test_help_imports_no_torch(script: str) -> None:
    argv = [script, "--help"]
    script = (
        "import sys\n"
        "from clara_tlt.cli import main, tlt\n"
        f"sys.argv = {argv!r}\n"
        "entry = main.main if sys.argv[0] == 'clara-tlt' else getattr(tlt, sys.argv[0].split('-', 1)[1])\n"
        "try:\n    entry()\nexcept SystemExit as e:\n    code = e.code\n"
        "print('TORCH_LOADED' if 'torch' in sys.modules else 'NO_TORCH', code)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("NO_TORCH 0"), out


def test_version_and_group_help() -> None:
    code, output = invoke("--version")
    assert code == 0 and __version__ in output
    code, output = invoke("--help")
    assert code == 0
    for name in ("dataconvert", "train", "evaluate", "infer", "export", "pull"):
        assert name in output


def console_scripts() -> dict[str, str]:
    """pyproject.toml's [project.scripts] (name → module:function); tomllib needs Python 3.11."""
    section = (REPO / "pyproject.toml").read_text().split("[project.scripts]", 1)[1].split("\n[", 1)[0]
    return dict(re.findall(r'^([\w-]+)\s*=\s*"([^"]+)"', section, flags=re.M))


CONSOLE_SCRIPTS = console_scripts()


@pytest.mark.parametrize("name", list(SUBCOMMANDS))
def test_every_subcommand_accepts_debug(name: str) -> None:
    code, output = invoke(name, "--debug", "--help")
    assert code == 0, output
    assert "--debug" in output and "Show tracebacks" in output


@pytest.mark.parametrize("script", [name for name in CONSOLE_SCRIPTS if name.startswith("tlt-")])
def test_every_tlt_script_accepts_debug(
    script: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    module, _, function = CONSOLE_SCRIPTS[script].partition(":")
    monkeypatch.setattr(sys, "argv", [script, "--debug", "--help"])
    with pytest.raises(SystemExit) as done:
        getattr(importlib.import_module(module), function)()
    assert done.value.code == 0
    assert "--debug" in capsys.readouterr().out


def every_command() -> list[click.Command]:
    """Every click command of the clara_tlt.cli modules (both dialects)."""
    import pkgutil

    import clara_tlt.cli

    modules = [
        importlib.import_module(f"clara_tlt.cli.{m.name}")
        for m in pkgutil.iter_modules(clara_tlt.cli.__path__)
    ]
    found = {id(v): v for m in modules for v in vars(m).values() if isinstance(v, click.Command)}
    return list(found.values())


def test_choice_defaults_are_shown_in_the_choices_case() -> None:
    checked = 0
    for command in every_command():
        ctx = click.Context(command)
        for param in command.params:
            if isinstance(param.type, click.Choice) and isinstance(param.default, str):
                metavar = param.type.get_metavar(param, ctx) or ""
                assert param.default in metavar.strip("[]{}").split("|"), (command.name, param.name, metavar)
                checked += 1
    assert checked >= 4  # export's two formats, the Triton platform, pull's link mode


def test_usage_error_exits_2() -> None:
    code, output = invoke("train", "--no-such-flag")
    assert code == 2 and "No such option" in output


def test_dry_run_on_the_seed_spleen_config_as_written(spleen_mmar: Path) -> None:
    code, output = invoke("train", "-m", str(spleen_mmar), "-c", "config/config_train.json", "--dry-run")
    assert code == 0, output
    assert "every component built" in output
    for built in ("SegAhnet", "Dice", "Adam", "DecayOnStep", "ComputeAverageDice", "TFScanWindowInferer"):
        assert built in output
    assert "[training]: 2 entries" in output and "[validation]: 1 entries" in output


def test_seed_validation_config_dry_runs_as_written(spleen_mmar: Path) -> None:
    code, output = invoke(
        "evaluate", "-m", str(spleen_mmar), "-c", "config/config_validation.json", "--dry-run"
    )
    assert code == 0, output
    for built in ("ComputeAverageDice", "TFScanWindowInferer", "FrozenGraphModelLoader", "WriteNifti"):
        assert built in output


def test_dry_run_prints_the_plan_and_checks_datalist_files(tmp_path: Path, synthetic_dataset: Path) -> None:
    config = {
        "epochs": 2,
        "learning_rate": 1e-3,
        "train": {
            "model": {"name": "SegAhnet", "args": {"num_classes": 2}},
            "loss": {"name": "Dice"},
            "optimizer": {"name": "Adam"},
            "lr_policy": {"name": "DecayOnStep", "args": {"decay_freq": 10}},
            "pre_transforms": [
                {"name": "LoadImaged", "args": {"keys": ["image", "label"]}},
                {"name": "RandFlipd", "args": {"keys": ["image"]}, "disabled": True},
            ],
        },
    }
    write_json(tmp_path / "config" / "config_train.json", config)
    write_json(tmp_path / "config" / "environment.json", {"DATASET_JSON": str(synthetic_dataset)})
    code, output, errors = invoke_streams(
        "train",
        "-m",
        str(tmp_path),
        "-c",
        "config/config_train.json",
        "--dry-run",
        "--json",
        "--set",
        "epochs=5",
        "learning_rate=0.5",
    )
    assert code == 0, errors
    plan = json.loads(output)
    assert plan["globals"] == {"epochs": 5, "learning_rate": 0.5}
    kinds = {c["key_path"]: (c["kind"], c["name"]) for c in plan["components"]}
    assert kinds["train.optimizer"] == ("optimizer", "Adam") and kinds["train.model"] == (
        "network",
        "SegAhnet",
    )
    assert kinds["train.pre_transforms"] == ("transform", "LoadImaged")
    assert plan["datalists"][0]["key"] == "validation" and plan["datalists"][0]["entries"] == 1

    Path(synthetic_dataset.parent / "imagesTr" / "case_002.nii.gz").rename(tmp_path / "moved.nii.gz")
    try:
        code, output = invoke("train", "-m", str(tmp_path), "-c", "config/config_train.json", "--dry-run")
    finally:
        (tmp_path / "moved.nii.gz").rename(synthetic_dataset.parent / "imagesTr" / "case_002.nii.gz")
    assert code == 4, output
    assert "validation[0].image" in output and "case_002.nii.gz" in output


def test_config_errors_exit_3_and_name_file_and_key(tmp_path: Path) -> None:
    write_json(tmp_path / "c.json", {"train": {"loss": {"name": "Dcie"}}})
    code, output = invoke("train", "-m", str(tmp_path), "-c", "c.json", "--dry-run")
    assert code == 3
    assert "c.json: train.loss.name: unknown loss 'Dcie'; did you mean 'Dice'?" in output
    code, output = invoke("train", "-m", str(tmp_path), "-c", "missing.json", "--dry-run")
    assert code == 3 and "missing.json: file not found" in output


def test_train_without_the_components_it_needs_names_them(tmp_path: Path) -> None:
    write_json(tmp_path / "c.json", {"epochs": 1})
    code, output = invoke("train", "-m", str(tmp_path), "-c", "c.json")
    assert code == 3
    assert "c.json: train: training needs a network (train.model or net_config), train.loss" in output


def test_tlt_train_console_script_dialect(tmp_path: Path, synthetic_dataset: Path) -> None:
    config = write_json(
        tmp_path / "config_train.json",
        {
            "epochs": 1,
            "learning_rate": 1e-4,
            "net_config": {"name": "SegmAhnet3D", "num_classes": 2, "if_from_scratch": True},
            "train": {
                "loss": {"name": "losses.dice_loss"},
                "optimizer": {"name": "Adam", "epsilon": 1e-4},
                "lr_policy": {"name": "lr_policy.DecayLRonStep", "decay_ratio": 0.1, "decay_freq": 50000},
            },
        },
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    args = [
        str(BIN / "tlt-train"),
        "segmentation",
        "-e",
        str(config),
        "-d",
        str(synthetic_dataset),
        "-r",
        str(tmp_path / "out"),
        "--dry-run",
    ]
    done = subprocess.run(args, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "net_config" in done.stdout and "[training]: 2 entries" in done.stdout
    missing = subprocess.run(
        [*args[:5], str(tmp_path / "nope.json"), *args[6:]], capture_output=True, text=True, env=env
    )
    assert missing.returncode == 4 or missing.returncode == 3
    assert "nope.json" in missing.stderr and "Traceback" not in missing.stderr
