"""Options shared by several commands, so each command module stays short and flags mean the same everywhere."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import click

from clara_tlt.cli.runner import enable_debug, state
from clara_tlt.formats.outputs import IMAGE, OUTPUT_FORMATS

F = Callable[..., Any]


class SetCommand(click.Command):
    """Accept Clara's `--set a=1 b=2` (several items after one flag) besides `--set a=1 --set b=2`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        expanded: list[str] = []
        collecting = False
        for arg in args:
            if arg == "--set":
                collecting = True
                continue
            if collecting and not arg.startswith("-"):
                expanded += ["--set", arg]
                continue
            collecting = False
            expanded.append(arg)
        return super().parse_args(ctx, expanded)


class CaseInsensitiveChoice(click.Choice):
    """A choice matched in any case but shown as written, so `--help` reads `[CKPT|PT] [default: CKPT]`
    (click 8.2 shows such choices casefolded, beside a default in the original case)."""

    def __init__(self, choices: Sequence[str]) -> None:
        super().__init__(choices, case_sensitive=False)

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        shown = "|".join(map(str, self.choices))
        return f"{{{shown}}}" if param.required and param.param_type_name == "argument" else f"[{shown}]"

    def get_invalid_choice_message(self, value: Any, ctx: click.Context | None) -> str:
        return f"{value!r} is not one of {', '.join(map(repr, self.choices))}."


SHARD_FORM = "I/N with 0 <= I < N (shard 0/4 takes the cases 0, 4, 8, … of the datalist)"


class ShardType(click.ParamType):
    """`--shard I/N`: shard I (from 0) of N; (I, N) after parsing."""

    name = "I/N"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        index, _, count = str(value).partition("/")
        try:
            shard = (int(index), int(count))
        except ValueError:
            shard = (-1, 0)
        if not 0 <= shard[0] < shard[1]:
            self.fail(f"{value!r} is not a shard; give {SHARD_FORM}", param, ctx)
        return shard


# `--shard I/N`: run only shard I of N of the cases, for array jobs (docs/scale-out.md).
shard_option = click.option(
    "--shard",
    type=ShardType(),
    default=None,
    help="Run only shard I of N (from 0): the cases I, I+N, I+2N, … of the datalist (dataconvert: of the "
    "inputs in the order of their output names); outputs keep the names one whole run gives "
    "(docs/scale-out.md).",
)


# `--merge-shards N`: evaluate's reports of one whole run, from the N shards' results.
merge_shards_option = click.option(
    "--merge-shards",
    type=click.IntRange(min=1),
    metavar="N",
    help="Write the reports of one run over every case from the results that `--shard I/N` runs left in "
    "the output folder (same config and flags); refuses while a shard is missing.",
)


def unchanged(f: F) -> F:
    """A decorator that adds nothing: where a command factory leaves an option out."""
    return f


Callback = Callable[[click.Context, click.Parameter, bool], Any]  # a click callback of a flag


def eager_flag(name: str, callback: Callback, help: str) -> Callable[[F], F]:
    """A flag that acts as it is parsed, before the other options (`callback`), and passes no value to the
    command: `--debug`, `--profile`, `--list-components`."""
    return click.option(name, is_flag=True, expose_value=False, is_eager=True, callback=callback, help=help)


debug_option = eager_flag("--debug", enable_debug, "Show tracebacks and debug logs.")


def enable_profile(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    """Click callback of `--profile`: time the stages of this run (from the process start when the process runs
    this command alone); the table comes with the result (`clara_tlt.cli.report.emit`)."""
    if value and not ctx.resilient_parsing:
        from clara_tlt.engines.profile import process_age, profiling

        ctx.with_resource(profiling(start_up=process_age() if state.whole_process else None))
    return value


profile_option = eager_flag(
    "--profile",
    enable_profile,
    "At the end, a table of the wall time per stage (reading, transforms, network, writing, …) and its share; "
    "with --json, the same under `profile` (docs/performance.md).",
)


json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print the result as JSON on stdout (for scripts)."
)


# `--output-format image|dicom-seg` on a command function or a built command (infer's are built by the
# dialect factories that evaluate shares): kept in the click context, read with `output_format()`.
output_format_option = click.option(
    "--output-format",
    type=click.Choice(OUTPUT_FORMATS),
    default=IMAGE,
    show_default=True,
    expose_value=False,
    callback=lambda ctx, param, value: ctx.meta.__setitem__("output_format", value),
    help="image: the config's writers (NIfTI, MetaImage); dicom-seg: labels as a DICOM SEG in the study of "
    "each case's DICOM series (docs/infer.md).",
)


def output_format() -> str:
    """What `--output-format` said in the running command (`image` outside one)."""
    ctx = click.get_current_context(silent=True)
    return str(ctx.meta.get("output_format", "image")) if ctx is not None else "image"


dry_run_option = click.option(
    "--dry-run",
    is_flag=True,
    help="Resolve the config, build every component, check every datalist file; print the plan and exit.",
)


set_option = click.option(
    "--set",
    "set_items",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a global variable, a variable the config uses ({NAME}, environment.json) or a dotted "
    "config key: --set epochs=2 learning_rate=1e-4.",
)


# `-m/--mmar MMAR_ROOT` (default: the working folder).
mmar_root_option = click.option(
    "-m",
    "--mmar",
    type=click.Path(file_okay=False, exists=True),
    default=".",
    show_default=True,
    help="MMAR root folder.",
)


# `-e/--environment environment.json`, relative to the MMAR.
environment_option = click.option(
    "-e",
    "--environment",
    type=click.Path(dir_okay=False),
    help="environment.json (relative to the MMAR).",
)


def mmar_options(f: F) -> F:
    """The MMAR dialect of Clara 3.1: `-m MMAR_ROOT -c CONFIG -e ENVIRONMENT`."""
    f = environment_option(f)
    f = click.option(
        "-c",
        "--config",
        required=True,
        type=click.Path(dir_okay=False),
        help="Config JSON (relative to the MMAR).",
    )(f)
    return mmar_root_option(f)


def common_options(f: F) -> F:
    """`--debug`, `--profile`, `--json`, `--dry-run` and `--set`, in that order on --help."""
    for decorate in (set_option, dry_run_option, json_option, profile_option, debug_option):
        f = decorate(f)
    return f


# `--file_root DIR` of the TLT commands: the folder datalist paths are relative to.
file_root_option = click.option(
    "--file_root", type=click.Path(file_okay=False), help="Folder the datalist's paths are relative to."
)


def tlt_inference_options(f: F) -> F:
    """The Clara Train SDK's tlt-infer / tlt-evaluate flags (long forms only, as its guide gives them)."""
    f = click.option(
        "--setup", default="standard", show_default=True, help="Run setup name (kept for TLT scripts)."
    )(f)
    f = click.option("--data_file", required=True, type=click.Path(dir_okay=False), help="datalist.json.")(f)
    f = click.option(
        "--output_path", required=True, type=click.Path(), help="Folder for predictions and reports."
    )(f)
    f = file_root_option(f)
    f = click.option(
        "--model_format", default="pytorch", show_default=True, help="Format of --model_save_path."
    )(f)
    f = click.option(
        "--config", required=True, type=click.Path(dir_okay=False), help="Inference/evaluation config JSON."
    )(f)
    f = click.option(
        "--model_save_path", required=True, type=click.Path(), help="Trained or exported model file."
    )(f)
    return f
