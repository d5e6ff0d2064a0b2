"""The pull command: cache hits offline, -d placement (copy/links/--force), usage errors, the tlt-pull script."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hub.loopback_registry import API_KEY, MMAR_FILES, ORG, TEAM

MODEL = "clara_pt_spleen_ct_segmentation"
TLT_PULL = Path(sys.executable).parent / "tlt-pull"


def ngc(registry, *args: str) -> list[str]:
    return ["--registry", registry.api, "--auth-url", registry.auth, "-o", ORG, "-t", TEAM, *args]


def test_second_pull_is_served_from_the_cache_with_the_server_stopped(registry, cli, tmp_path):
    first = cli(*ngc(registry, "-k", API_KEY, "-m", MODEL, "-v", "2", "-d", str(tmp_path / "a"), "--json"))
    assert first.code == 0, first.text
    registry.stop()
    second = cli(*ngc(registry, "-k", API_KEY, "-m", MODEL, "-v", "2", "-d", str(tmp_path / "b"), "--json"))
    assert second.code == 0, second.text
    assert second.json()["from_cache"] is True
    for path, data in MMAR_FILES.items():
        assert (tmp_path / "b" / path).read_bytes() == data
    assert "from the cache" in cli(*ngc(registry, "-m", MODEL, "-v", "2")).stdout


def test_latest_offline_falls_back_to_the_latest_seen(registry, cli, caplog):
    assert cli(*ngc(registry, "-m", MODEL)).code == 0
    registry.stop()
    result = cli(*ngc(registry, "-m", MODEL, "--json"))
    assert result.code == 0, result.text
    assert result.json()["version"] == "2" and result.json()["from_cache"] is True
    assert "cannot reach" in caplog.text and "from the cache" in caplog.text  # the warning says why


def test_offline_without_cache_fails_with_advice(registry, cli):
    registry.stop()
    result = cli(*ngc(registry, "-m", MODEL, "-v", "1"))
    assert result.code == 6 and "cannot reach" in result.stderr and "--registry" in result.stderr


def test_api_key_never_reaches_output_or_cache(registry, cli, tmp_path, hub_environment):
    runs = [
        cli(*ngc(registry, "-k", API_KEY, "-lm")),
        cli(*ngc(registry, "-k", API_KEY, "-lv", "-m", MODEL, "--json")),
        cli(*ngc(registry, "-k", API_KEY, "-m", MODEL, "-d", str(tmp_path / "d"), "--json", "--debug")),
        cli(*ngc(registry, "-k", API_KEY, "-m", "no_such_model", "--debug")),
    ]
    assert [r.code for r in runs] == [0, 0, 0, 2]
    for result in runs:
        assert API_KEY not in result.text
    written = [p for p in [*hub_environment.rglob("*"), *(tmp_path / "d").rglob("*")] if p.is_file()]
    assert written
    for path in written:
        assert API_KEY.encode() not in path.read_bytes(), path


def test_dest_with_different_files_needs_force(registry, cli, tmp_path):
    dest = tmp_path / "out"
    (dest / "config").mkdir(parents=True)
    (dest / "config" / "config_train.json").write_text("my edits")
    (dest / "mine.txt").write_text("kept")
    result = cli(*ngc(registry, "-m", MODEL, "-v", "2", "-d", str(dest)))
    assert result.code == 2 and "--force" in result.stderr and "config/config_train.json" in result.stderr
    assert (dest / "config" / "config_train.json").read_text() == "my edits"
    assert cli(*ngc(registry, "-m", MODEL, "-v", "2", "-d", str(dest), "--force")).code == 0
    assert (dest / "config" / "config_train.json").read_bytes() == MMAR_FILES["config/config_train.json"]
    assert (dest / "mine.txt").read_text() == "kept"
    assert cli(*ngc(registry, "-m", MODEL, "-v", "2", "-d", str(dest))).code == 0  # same files: fine


@pytest.mark.parametrize("mode", ["hardlink", "symlink"])
def test_link_modes(registry, cli, tmp_path, mode):
    dest = tmp_path / "out"
    result = cli(*ngc(registry, "-m", MODEL, "-v", "2", "-d", str(dest), "--link-mode", mode, "--json"))
    assert result.code == 0, result.text
    placed, cached = dest / "models/model.pt", Path(result.json()["cache_path"]) / "models/model.pt"
    assert placed.read_bytes() == MMAR_FILES["models/model.pt"]
    if mode == "symlink":
        assert placed.is_symlink() and placed.resolve() == cached.resolve()
    else:
        assert os.path.samefile(placed, cached)


def test_usage_errors_say_what_to_add(cli):
    result = cli()
    assert result.code == 2 and "-lm" in result.stderr and "-m MODEL" in result.stderr
    result = cli("-lv")
    assert result.code == 2 and "add -m MODEL" in result.stderr
    result = cli("-m", "../../etc")
    assert result.code == 2 and "not a valid name" in result.stderr


def test_tlt_pull_console_script(registry, tmp_path, hub_environment):
    env = {
        **os.environ,
        "NGC_API_KEY": API_KEY,
        "CLARA_TLT_REGISTRY": registry.api,
        "CLARA_TLT_AUTH_URL": registry.auth,
    }
    dest = tmp_path / "annotation_spleen"
    ok = subprocess.run(
        [str(TLT_PULL), "-m", MODEL, "-v", "1", "-d", str(dest), "-o", ORG, "-t", TEAM],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    assert f"Finished downloading version 1 of {MODEL}" in ok.stdout
    assert f"Downloaded files are in {dest}" in ok.stdout
    assert "files to download, total size" in ok.stderr  # plain log lines when not a terminal
    assert (dest / "config" / "config_train.json").is_file()
    refused = subprocess.run(
        [str(TLT_PULL), "-lm", "-k", "nvapi-WRONG", "-o", ORG, "-t", TEAM],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 6
    assert (
        refused.stderr.startswith("Error:") and "401" in refused.stderr and "Traceback" not in refused.stderr
    )
    for run in (ok, refused):
        assert API_KEY not in run.stdout + run.stderr and "nvapi-WRONG" not in run.stdout + run.stderr
