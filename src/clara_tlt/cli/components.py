"""`clara-tlt components [KIND]`: every registered component name, its kind and what it is built on."""

from __future__ import annotations

from dataclasses import asdict

import click

from clara_tlt.cli.options import debug_option, json_option
from clara_tlt.cli.report import emit
from clara_tlt.factory.registry import FALLBACKS, PROVIDERS, catalogue


@click.command("components")
@click.argument("kind", required=False, type=click.Choice(list(PROVIDERS)))
@json_option
@debug_option
def command(kind: str | None, as_json: bool) -> None:
    """List registered component names (all kinds, or KIND): kind, name, aliases, what each is built on.

    A config may also name any class of the libraries each kind falls back to (MONAI, torch) by its exact
    name, or a class of its own by "path".
    """
    if kind is not None and not PROVIDERS[kind]:
        _library_kind(kind, as_json=as_json)
        return
    entries = catalogue(kind)
    width = max([len("name"), *(len(e.name) for e in entries)])
    lines = [f"{'kind':<15} {'name':<{width}} built on"]
    for e in entries:
        also = f"  (also: {', '.join(e.aliases)})" if e.aliases else ""
        lines.append(f"{e.kind:<15} {e.name:<{width}} {e.built_on}{also}")
    lines.append(f"{len(entries)} registered names")
    library = [k for k in PROVIDERS if not PROVIDERS[k] and (kind is None or k == kind)]
    if library:
        lines.append(
            f"{', '.join(library)}: MONAI's classes by exact name; `clara-tlt components KIND` lists them"
        )
    emit({"components": [asdict(e) for e in entries]}, as_json=as_json, lines=lines)


def _library_kind(kind: str, *, as_json: bool) -> None:
    """A Clara 4.x kind registers no names: a config names its library classes exactly; list those."""
    from clara_tlt.engines.clara4.sections import REPLACED
    from clara_tlt.factory.library import library_classes

    classes = library_classes(kind)
    modules = " and ".join(FALLBACKS[kind])
    width = max([len("name"), *(len(c.name) for c in classes)])
    lines = [
        f"{kind} registers no names of its own: a Clara 4.x config names a class of {modules} exactly "
        '(or its own class by "path").',
        f"{'name':<{width}} from",
    ]
    for c in classes:
        ours = f"  (built as {REPLACED[c.name]})" if c.name in REPLACED else ""
        lines.append(f"{c.name:<{width}} {c.module}{ours}")
    lines.append(f"{len(classes)} {kind} classes of {modules}")
    listed = [asdict(c) | {"built_as": REPLACED.get(c.name, f"{c.module}.{c.name}")} for c in classes]
    emit({"components": [], "library_classes": listed}, as_json=as_json, lines=lines)
