"""`clara-tlt components [KIND]`: every registered component name, its kind and what it is built on."""

from __future__ import annotations

from dataclasses import asdict

import click

from clara_tlt.cli.options import debug_option, json_option
from clara_tlt.cli.report import emit
from clara_tlt.factory.registry import PROVIDERS, catalogue


@click.command("components")
@click.argument("kind", required=False, type=click.Choice(list(PROVIDERS)))
@json_option
@debug_option
def command(kind: str | None, as_json: bool) -> None:
    """List registered component names (all kinds, or KIND): kind, name, aliases, what each is built on.

    A config may also name any class of the libraries each kind falls back to (MONAI, torch) by its exact
    name, or a class of its own by "path".
    """
    entries = catalogue(kind)
    width = max([len("name"), *(len(e.name) for e in entries)])
    lines = [f"{'kind':<15} {'name':<{width}} built on"]
    for e in entries:
        also = f"  (also: {', '.join(e.aliases)})" if e.aliases else ""
        lines.append(f"{e.kind:<15} {e.name:<{width}} {e.built_on}{also}")
    lines.append(f"{len(entries)} registered names")
    emit({"components": [asdict(e) for e in entries]}, as_json=as_json, lines=lines)
