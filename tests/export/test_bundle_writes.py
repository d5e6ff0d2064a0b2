"""`export --bundle` never loses a file: a full disk midway names the bundle's folder and leaves nothing half
written; a `--bundle` folder that holds the MMAR being exported is refused, not replaced. Each fix works."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from clara_tlt.export import bundle
from tests.export.test_bundle import example_mmar
from tests.faults import fill_disk, leftovers
from tests.test_cli import invoke_streams


def export(mmar: Path, bundle: Path | str) -> tuple[int, str, str]:
    """`clara-tlt export -m MMAR --bundle DIR`, unverified (what is checked here is where files land)."""
    return invoke_streams("export", "-m", str(mmar), "--bundle", str(bundle), "--skip_verify")


def test_a_bundle_write_that_hits_a_full_disk_names_the_folder_and_leaves_nothing(
    tmp_path: Path, train_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mmar = example_mmar(tmp_path / "mmar", train_data)
    with monkeypatch.context() as patched:
        fill_disk(patched, room=5000)
        code, _, stderr = export(mmar, tmp_path / "bundle")
    assert code == 1, stderr
    assert f"{tmp_path / 'bundle'}: not written: no space left on the device holding {tmp_path}" in stderr
    assert "free some space there or write elsewhere, then run again" in stderr
    assert not (tmp_path / "bundle").exists() and leftovers(tmp_path) == []
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []

    code, _, stderr = export(mmar, tmp_path / "bundle")  # the fix: space freed, run again
    assert code == 0, stderr
    assert (tmp_path / "bundle" / "configs" / "inference.json").is_file()


def test_a_bundle_folder_holding_the_mmar_is_refused_and_the_mmar_kept(
    tmp_path: Path, train_data: Path
) -> None:
    """An earlier bundle is replaced, files and all: with the MMAR inside it, that would delete the MMAR."""
    bundle = tmp_path / "bundle"
    mmar = example_mmar(bundle / "mmar", train_data)
    assert export(mmar, bundle / "mmar" / "models" / "new")[0] == 0  # a new folder inside the MMAR: fine
    (bundle / "configs").mkdir()
    (bundle / "configs" / "metadata.json").write_text("{}")  # an earlier bundle's
    before = sorted(p.relative_to(bundle) for p in bundle.rglob("*"))

    code, _, stderr = export(mmar, bundle)
    assert code == 2, stderr
    assert f"--bundle {bundle}: holds {mmar / 'models' / 'model.pt'}" in stderr
    assert sorted(p.relative_to(bundle) for p in bundle.rglob("*")) == before

    suggested = re.search(r"e\.g\. --bundle (\S+)", stderr)
    assert suggested is not None
    code, _, stderr = export(mmar, suggested.group(1))  # the fix the message names
    assert code == 0, stderr
    assert (Path(suggested.group(1)) / "models" / "model.pt").is_file() and (mmar / "models").is_dir()


def test_a_bundle_interrupted_midway_leaves_the_earlier_bundle_as_it_was(
    tmp_path: Path, train_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mmar = example_mmar(tmp_path / "mmar", train_data)
    assert export(mmar, tmp_path / "bundle")[0] == 0
    before = {p: p.read_bytes() for p in (tmp_path / "bundle").rglob("*") if p.is_file()}

    def interrupted(*args: object, **kwargs: object) -> str:
        raise KeyboardInterrupt  # Ctrl-C once the weights and configs are written, before docs/README.md

    monkeypatch.setattr(bundle, "readme", interrupted)
    code, _, _ = export(mmar, tmp_path / "bundle")
    assert code == 130
    assert {p: p.read_bytes() for p in (tmp_path / "bundle").rglob("*") if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
