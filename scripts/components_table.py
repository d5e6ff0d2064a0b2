"""Write docs/configuration.md's Clara 3.1 components table from the registry and docs/data/clara31_api.json.

The JSON file holds what NVIDIA's Clara 3.1 documentation says (classes, documented arguments, what each
does here); the registry says what a config may name today (our name, which arguments the factory takes,
which names are refused as unavailable). The table is their join, so it cannot drift from either:
`tests/test_clara31_components.py` fails when the file in docs/ is not what this script writes.

    python scripts/components_table.py           # rewrite the table in docs/configuration.md
    python scripts/components_table.py --check   # exit 1, saying so, when it is not current
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clara_tlt.atomic import write_text_atomic
from clara_tlt.config.component_spec import normalize_spec
from clara_tlt.errors import ConfigError
from clara_tlt.factory.arguments import accepted_names
from clara_tlt.factory.registry import catalogue, resolve

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "docs" / "data" / "clara31_api.json"
DOC = ROOT / "docs" / "configuration.md"
START, END = "<!-- catalogue-table -->", "<!-- /catalogue-table -->"
SLOT_KIND = {"aux_op": "metric"}  # aux ops stand in the `aux_ops` slot and are built as metrics
HEADER = (
    "| kind | Clara 3.1 class | our name | documented arguments | here | seen in | status |\n"
    "| --- | --- | --- | --- | --- | --- | --- |"
)
SEEN = {"signature": "API signature", "configs": "configs", "listed": "name only"}


@dataclass(frozen=True)
class Found:
    """What the registry does with one documented class: our canonical name, its arguments, its status."""

    ours: str
    takes: frozenset[str] | None  # None: the factory takes any keyword
    status: str  # registered, unavailable or missing


def load(path: Path = DATA) -> dict[str, Any]:
    """The documentation facts: `classes` (one dict per documented class) and `not_seen`."""
    return json.loads(path.read_text())


def registry_kind(entry: dict[str, Any]) -> str:
    """The registry kind a documented class is built as (aux ops are metrics)."""
    return SLOT_KIND.get(entry["kind"], entry["kind"])


def look_up(entry: dict[str, Any]) -> Found:
    """Ask the registry about `entry`: registered (with our name), unavailable (refused by name) or missing."""
    kind, name = registry_kind(entry), entry["name"]
    canonical = {alias: e.name for e in catalogue(kind) for alias in (e.name, *e.aliases)}
    try:
        factory = resolve(
            normalize_spec({"name": name}, file="-", key_path="-"), kind, file="-", key_path="-"
        )
    except ConfigError as exc:
        status = "unavailable" if "cannot work in PyTorch" in exc.reason else "missing"
        return Found(name, frozenset(), status)
    return Found(canonical.get(name, name), accepted_names(factory), "registered")


def unaccepted(entry: dict[str, Any], found: Found) -> list[str]:
    """Documented arguments the factory does not take and nothing else reads (should be none)."""
    if found.takes is None or found.status != "registered":
        return []
    handled = set(found.takes) | set(entry.get("slot_args", ()))
    return [a for a in documented(entry) if a not in handled]


def documented(entry: dict[str, Any]) -> list[str]:
    """Every documented argument of `entry`: those that act here, then those with no effect, then refused."""
    return [
        *entry["args"],
        *entry.get("slot_args", ()),
        *entry.get("no_effect", {}),
        *entry.get("refused", {}),
    ]


def arguments_cell(entry: dict[str, Any], found: Found) -> str:
    """The documented arguments, marked when refused, of no effect here, or (a bug) not accepted."""
    marks = {arg: " (**not accepted**)" for arg in unaccepted(entry, found)}
    marks |= {arg: " (no effect)" for arg in entry.get("no_effect", {})}
    marks |= {arg: " (refused)" for arg in entry.get("refused", {})}
    words = [f"`{arg}`{marks.get(arg, '')}" for arg in documented(entry)]
    return ", ".join(words) if words else "none"


def here_cell(entry: dict[str, Any]) -> str:
    """What the class does here, then why each no-effect argument has none and each refused one is refused."""
    parts = [entry["here"]] if entry["here"] else []
    if "unavailable" in entry:
        parts.append(f"cannot work in PyTorch: {entry['unavailable']}")
    for group in ("no_effect", "refused"):
        parts += [f"`{arg}`: {why['why']}" for arg, why in entry.get(group, {}).items()]
    return "; ".join(parts).replace("|", "\\|")


def row(entry: dict[str, Any]) -> str:
    """One table row for one documented class."""
    found = look_up(entry)
    cells = [
        entry["kind"],
        f"`{entry['name']}`",
        f"`{found.ours}`",
        arguments_cell(entry, found),
        here_cell(entry),
        SEEN[entry["seen"]],
        found.status,
    ]
    return "| " + " | ".join(cells) + " |"


def table(facts: dict[str, Any]) -> str:
    """The whole generated block: the table, then what the stored documentation did not show."""
    rows = [row(entry) for entry in facts["classes"]]
    unseen = [f"- `{module}`: {what}" for module, what in facts["not_seen"].items()]
    return "\n".join(
        [
            START,
            HEADER,
            *rows,
            "",
            "Not seen in the stored API reference (the argument lists of these come from the configuration",
            "appendix, the TLT mapping page and NVIDIA's 3.1 example configs, marked *configs* above, or are our",
            "reading where only the name was seen, marked *name only*):",
            "",
            *unseen,
            END,
        ]
    )


def rendered(doc: str, block: str) -> str:
    """`doc` with the text between the table markers (markers included) replaced by `block`; both markers,
    in order, or SystemExit (a lone start marker would have the table replace the rest of the page)."""
    head, start, rest = doc.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        missing = START if not start else END
        raise SystemExit(
            f"{DOC}: no '{missing}' marker{'' if not start else ' after ' + repr(START)}; nothing was "
            f"written. Put '{START}' and '{END}' on their own lines where the table goes, then run again"
        )
    return head + block + tail


def main(argv: list[str]) -> int:
    """Rewrite the table, or with `--check` report whether it is current (exit 1 when not)."""
    unknown = [arg for arg in argv if arg != "--check"]
    if unknown:
        print(f"components_table.py: unknown argument {unknown[0]!r}; give none, or --check", file=sys.stderr)
        return 2
    current = DOC.read_text()
    wanted = rendered(current, table(load()))
    if "--check" in argv:
        if wanted != current:
            print(f"{DOC} is not current; run: python scripts/components_table.py", file=sys.stderr)
            return 1
        return 0
    if wanted != current:
        write_text_atomic(DOC, wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
