"""Run a click command the way every entry point does: errors become one message on stderr and an exit code."""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Sequence

import click

from clara_tlt.errors import ClaraError, Interrupted


class _State:
    debug = False
    whole_process = (
        False  # the process runs this one command (a console script), not a test or a library call
    )


state = _State()


def enable_debug(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    """Click callback of `--debug`: show tracebacks and debug logs."""
    if value:
        state.debug = True
        logging.getLogger("clara_tlt").setLevel(logging.DEBUG)
    return value


def run(command: click.Command, args: Sequence[str] | None = None, prog_name: str | None = None) -> None:
    """Invoke `command` and exit: 0 on success, the error's exit code otherwise (docs/exit-codes.md).

    What `--debug` turns on lasts for this run only (library users and tests may call `run` many times).
    """
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logger = logging.getLogger("clara_tlt")
    level = logger.level
    state.whole_process = args is None
    try:
        sys.exit(_invoke(command, args, prog_name))
    finally:
        state.debug = state.whole_process = False
        logger.setLevel(level)


def _invoke(command: click.Command, args: Sequence[str] | None, prog_name: str | None) -> int:
    """Run `command`; every error becomes its message on stderr and the exit code returned."""
    try:
        command.main(
            args=list(args) if args is not None else None, prog_name=prog_name, standalone_mode=False
        )
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("Interrupted.", err=True)
        return Interrupted.exit_code
    except click.ClickException as exc:
        exc.show()
        return 2 if isinstance(exc, click.UsageError) else exc.exit_code
    except ClaraError as exc:
        if state.debug:
            traceback.print_exc()
        click.echo(f"Error: {exc}", err=True)
        return exc.exit_code
    except Exception as exc:
        if state.debug:
            traceback.print_exc()
        else:
            click.echo(f"Error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", err=True)
        return 1
    return 0
