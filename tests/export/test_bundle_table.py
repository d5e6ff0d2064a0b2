"""The Clara 3.x → MONAI table of bundle export: each name's translation, and docs/export.md in step with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from clara_tlt.errors import ConfigError
from clara_tlt.export.bundle_table import TABLE, translate_component

DOCS = Path(__file__).resolve().parents[2] / "docs" / "export.md"


def test_docs_list_every_name_of_the_table_as_translated_or_refused() -> None:
    rows = [
        line
        for line in DOCS.read_text().splitlines()
        if line.startswith(("| transform", "| inferer", "| writer"))
    ]
    for kind, rules in TABLE.items():
        for name, rule in rules.items():
            row = next((r for r in rows if r.startswith(f"| {kind} |") and f"`{name}`" in r), None)
            assert row is not None, f"docs/export.md has no row for {kind} {name}"
            assert ("refused (exit 3)" in row) == (rule.translate is None), row


def test_aliases_translate_as_the_name_they_stand_for_with_clara_arguments_renamed() -> None:
    inferer = {
        "name": "TFScanWindowInferer",
        "args": {"roi_size": [32, 32, 32], "batch_size": 3, "blend_mode": "gaussian"},
    }
    assert translate_component(inferer, "inferer", file="c.json", key_path="inferer") == [
        {"_target_": "SlidingWindowInferer", "roi_size": [32, 32, 32], "sw_batch_size": 3, "mode": "gaussian"}
    ]
    load = {"name": "LoadNifty", "args": {"fields": ["image"], "as_closest_canonical": "true"}}
    assert [s["_target_"] for s in translate_component(load, "transform", file="c.json", key_path="t")] == [
        "LoadImaged",
        "Orientationd",
    ]
    writer = {"name": "WriteNiftyResults", "args": {"fields": "model", "dtype": "uint8"}}
    (saver,) = translate_component(writer, "writer", file="c.json", key_path="w")
    assert (saver["keys"], saver["output_postfix"], saver["output_dtype"]) == (
        "pred",
        "model",
        "$numpy.uint8",
    )


def test_a_config_s_own_code_is_refused_naming_its_path() -> None:
    spec = {"path": "custom.MyTransform", "args": {}}
    with pytest.raises(
        ConfigError, match=r"c.json: pre_transforms\[2\].path: transform path 'custom.MyTransform'"
    ) as caught:
        translate_component(spec, "transform", file="c.json", key_path="pre_transforms[2]")
    assert caught.value.exit_code == 3


def test_a_writer_dtype_numpy_does_not_know_is_refused_naming_its_key() -> None:
    writer = {"name": "WriteNifti", "args": {"field": "model", "dtype": "uint8bit"}}
    with pytest.raises(
        ConfigError, match=r"c.json: writers\[0\].args: dtype 'uint8bit' is not a NumPy data type"
    ):
        translate_component(writer, "writer", file="c.json", key_path="writers[0]")
