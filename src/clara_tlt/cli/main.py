"""The `clara-tlt` group: subcommands are imported only when invoked, so `--help` stays fast (no torch)."""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import click

from clara_tlt import __version__
from clara_tlt.cli.options import debug_option, eager_flag
from clara_tlt.cli.runner import run

# Subcommand → "module:attribute" of its click command (MMAR dialect where a command has two).
SUBCOMMANDS: dict[str, str] = {
    "dataconvert": "clara_tlt.cli.dataconvert:command",
    "train": "clara_tlt.cli.train:mmar_command",
    "evaluate": "clara_tlt.cli.evaluate:mmar_command",
    "infer": "clara_tlt.cli.infer:mmar_command",
    "export": "clara_tlt.cli.export:mmar_command",
    "pull": "clara_tlt.cli.pull:command",
    "deploy": "clara_tlt.cli.deploy:command",
    "components": "clara_tlt.cli.components:command",
}
SUMMARIES: dict[str, str] = {
    "dataconvert": "Convert DICOM series and volumes to NIfTI, resampled to a target resolution.",
    "train": "Train a model from an MMAR's config_train.json.",
    "evaluate": "Evaluate a model against ground truth with an MMAR's config_validation.json: metrics, reports.",
    "infer": "Run inference with an MMAR's config on the DATA_LIST_KEY list of its datalist.",
    "export": "Export a model to TorchScript, ONNX, TensorRT and Triton.",
    "pull": "List and download pre-trained models from a model registry.",
    "deploy": "Run the Clara Deploy operator or an AIAA model config over a folder of volumes.",
    "components": "List registered component names by kind and what each is built on.",
}


def load_command(target: str) -> click.Command:
    """Import `module:attribute` and return the click command it names."""
    module_name, _, attribute = target.partition(":")
    command = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(command, click.Command):
        raise TypeError(f"{target} is not a click command")
    return command


class LazyGroup(click.Group):
    """A group whose subcommands are imported on use; `--help` lists them from SUMMARIES without importing."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = SUBCOMMANDS.get(cmd_name)
        return load_command(target) if target else None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, SUMMARIES[name]) for name in SUBCOMMANDS])


def list_components(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """`--list-components`: print what `clara-tlt components` prints, then exit (imports it only when given)."""
    if not value or ctx.resilient_parsing:
        return
    ctx.invoke(load_command(SUBCOMMANDS["components"]), kind=None, as_json=False)
    ctx.exit()


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="clara-tlt")
@eager_flag(
    "--list-components",
    list_components,
    "List registered component names (as `clara-tlt components`) and exit.",
)
@debug_option
def cli() -> None:
    """Clara Train workflow on PyTorch: dataconvert → train → export → infer → evaluate, and pull.

    Exit codes: 0 ok, 1 runtime error, 2 usage, 3 invalid config, 4 no input data, 5 partial failure,
    6 download/checksum failure, 130 interrupted.
    """


def main(args: Sequence[str] | None = None) -> None:
    """Console script `clara-tlt`."""
    run(cli, args, prog_name="clara-tlt")
