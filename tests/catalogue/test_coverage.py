"""docs/configuration.md's Clara 3.1 coverage table agrees with the registry; the count is printed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from clara_tlt.errors import ConfigError
from clara_tlt.factory.registry import build, catalogue
from tests.test_cli import invoke_streams

DOC = Path(__file__).parents[2] / "docs" / "configuration.md"
SLOT_KIND = {"aux_op": "metric"}  # aux ops stand in the `aux_ops` slot, built as metrics
OURS = ("network", "loss", "optimizer", "lr_policy", "handler", "image_pipeline")  # covered in full


def table_rows() -> list[dict[str, str]]:
    text = DOC.read_text()
    body = text[text.index("<!-- catalogue-table -->") : text.index("<!-- /catalogue-table -->")]
    rows = []
    for line in body.splitlines()[3:]:
        if not line.startswith("| "):
            break  # the table ends; the list of what the stored documentation did not show follows
        cells = [c.strip().strip("`") for c in line.strip("|").split(" | ")]
        kind, clara, ours, status = cells[0], cells[1], cells[2], cells[-1]
        rows.append({"kind": SLOT_KIND.get(kind, kind), "clara": clara, "ours": ours, "status": status})
    return rows


def names_of(kind: str) -> set[str]:
    return {name for e in catalogue(kind) for name in (e.name, *e.aliases)}


def test_every_registered_row_resolves_and_the_count_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    rows = table_rows()
    assert {r["status"] for r in rows} <= {"registered", "unavailable", "not yet"}
    registered = [r for r in rows if r["status"] == "registered"]
    for row in registered:
        assert row["ours"] in names_of(row["kind"]), row
        assert row["clara"] in names_of(row["kind"]) or row["clara"] == row["ours"], row
    with capsys.disabled():
        print(f"\nClara 3.1 catalogue: {len(registered)} registered / {len(rows)} documented classes read")


def test_unavailable_rows_fail_saying_what_to_use() -> None:
    for row in (r for r in table_rows() if r["status"] == "unavailable"):
        with pytest.raises(ConfigError, match="cannot work in PyTorch; "):
            build({"name": row["ours"]}, row["kind"], file="c.json", key_path="train.x")


def test_every_name_we_register_for_our_kinds_has_a_row() -> None:
    documented = {(r["kind"], r["ours"]) for r in table_rows()}
    for kind in OURS:
        for entry in catalogue(kind):
            assert (kind, entry.name) in documented, f"add {kind} {entry.name} to the table in {DOC.name}"


def test_components_command_lists_kind_name_and_basis_as_text_and_json() -> None:
    code, stdout, _ = invoke_streams("components", "optimizer")
    assert code == 0
    assert re.search(r"^optimizer\s+NovoGrad\s+monai\.optimizers\.Novograd$", stdout, re.MULTILINE)
    assert stdout.rstrip().endswith("3 registered names")
    code, stdout, _ = invoke_streams("components", "--json")
    entries = json.loads(stdout)["components"]
    assert {
        "kind": "loss",
        "name": "Dice",
        "aliases": ["DiceLoss3D", "dice_loss"],
        "built_on": "monai.losses.DiceLoss",
    } in entries
    assert {e["kind"] for e in entries} >= set(OURS)
    code, _, stderr = invoke_streams("components", "losses")
    assert code == 2 and "'losses' is not one of" in stderr
