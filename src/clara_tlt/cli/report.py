"""Print a command's result: JSON for scripts with --json, readable lines otherwise."""

from __future__ import annotations

import json
from typing import Any

import click


def emit(result: dict[str, Any], *, as_json: bool, lines: list[str]) -> None:
    """Write `result` as JSON (stdout) or `lines` as text."""
    if as_json:
        click.echo(json.dumps(result, indent=2, default=str))
    else:
        for line in lines:
            click.echo(line)


def plan_lines(plan: dict[str, Any]) -> list[str]:
    """Readable lines of a workflow plan (`Workflow.describe()`)."""
    lines = [f"Config {plan['config']} resolved; every component built."]
    if plan["globals"]:
        lines.append("Global variables:")
        lines += [f"  {k} = {json.dumps(v)}" for k, v in plan["globals"].items()]
    lines.append("Components:")
    lines += [f"  {c['key_path']:<28} {c['kind']:<15} {c['name']}" for c in plan["components"]]
    for d in plan["datalists"]:
        lines.append(f"Datalist {d['file']} [{d['key']}]: {d['entries']} entries, every file present.")
    if "model_dir" in plan:
        lines.append(
            f"Model folder {plan['model_dir']}: writable, no training running in it; the run {plan['start']}."
        )
    if plan.get("automl"):
        lines.append(
            "AutoML search space (accepted; this run trains with the values as written, no search): "
            + ", ".join(plan["automl"])
        )
    lines.append("Dry run: nothing was trained or written.")
    return lines
