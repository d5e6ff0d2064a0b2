"""Print a command's result: JSON for scripts with --json, readable lines otherwise."""

from __future__ import annotations

import json
from typing import Any

import click

from clara_tlt.engines.profile import Profile, current


def emit(result: dict[str, Any], *, as_json: bool, lines: list[str]) -> None:
    """Write `result` as JSON (stdout) or `lines` as text; under `--profile` with its table (JSON: `profile`)."""
    timer = current()
    if isinstance(timer, Profile):
        result = {**result, "profile": timer.summary()}
        lines = [*lines, *profile_lines(result["profile"])]
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


def profile_lines(profile: dict[str, Any]) -> list[str]:
    """The `--profile` table: per stage its wall time and share of the command's, busy time and calls."""
    device = any("device_s" in row for row in profile["stages"])
    head = f"  {'stage':<26}{'wall s':>9}{'share':>8}{'busy s':>9}{'calls':>7}" + ("  device s" * device)
    lines = [f"Profile: {profile['wall_s']:.2f} s wall time from the {profile['measured_from']}.", head]
    for row in profile["stages"]:
        line = f"  {row['stage']:<26}{row['wall_s']:>9.2f}{row['share_percent']:>7.1f}%{row['busy_s']:>9.2f}"
        line += f"{row['calls']:>7}" + (f"{row.get('device_s', 0.0):>10.2f}" if device else "")
        lines.append(line)
    if any(row["busy_s"] > row["wall_s"] * 1.05 + 0.01 for row in profile["stages"]):
        lines.append("  busy s above wall s: the stage ran beside others (on its own thread or process).")
    if "peak_device_memory_bytes" in profile:
        lines.append(f"  peak device memory: {profile['peak_device_memory_bytes'] / 2**30:.2f} GiB")
    return lines
