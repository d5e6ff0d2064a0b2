"""Console scripts `tlt-train`, `tlt-infer`, … with the flags of the original Clara Train SDK (TLT) tools."""

from __future__ import annotations

import click

from clara_tlt import __version__
from clara_tlt.cli.main import load_command
from clara_tlt.cli.runner import run


def _run(target: str, prog_name: str) -> None:
    command = load_command(target)
    if not any(p.name == "version" for p in command.params):
        click.version_option(__version__, prog_name=prog_name)(command)
    if "-h" not in command.context_settings.get("help_option_names", []):
        command.context_settings["help_option_names"] = ["-h", "--help"]
    run(command, prog_name=prog_name)


def train() -> None:
    _run("clara_tlt.cli.train:tlt_command", "tlt-train")


def infer() -> None:
    _run("clara_tlt.cli.infer:tlt_command", "tlt-infer")


def evaluate() -> None:
    _run("clara_tlt.cli.evaluate:tlt_command", "tlt-evaluate")


def export() -> None:
    _run("clara_tlt.cli.export:tlt_command", "tlt-export")


def dataconvert() -> None:
    _run("clara_tlt.cli.dataconvert:command", "tlt-dataconvert")


def pull() -> None:
    _run("clara_tlt.cli.pull:command", "tlt-pull")
