"""The fixes pull's messages suggest work: each test triggers a message, takes the fix from its text, runs it.

`--force` for a -d that holds other files is in test_pull_cli.py (test_dest_with_different_files_needs_force).
"""

from __future__ import annotations

import re

import pytest

from tests.hub.loopback_registry import API_KEY, ORG, TEAM

MODEL = "clara_pt_spleen_ct_segmentation"


def ngc(registry, *args: str) -> list[str]:
    return ["--registry", registry.api, "--auth-url", registry.auth, "-o", ORG, "-t", TEAM, *args]


def test_list_versions_without_a_model_says_add_m(registry, cli):
    result = cli(*ngc(registry, "-lv"))
    assert result.code == 2 and "add -m MODEL (find names with -lm)" in result.stderr
    names = cli(*ngc(registry, "-lm", "--json")).json()["models"]
    result = cli(*ngc(registry, "-lv", "-m", names[0]["name"]))
    assert result.code == 0, result.text


def test_nothing_to_do_names_the_actions_that_work(registry, cli, tmp_path):
    result = cli(*ngc(registry))
    assert result.code == 2
    actions = re.findall(r"use (-lm)|(-lv -m MODEL)|(-m MODEL \[-v VERSION\] -d DIR)", result.stderr)
    assert len(actions) == 3, result.stderr
    runs = [["-lm"], ["-lv", "-m", MODEL], ["-m", MODEL, "-v", "1", "-d", str(tmp_path / "d")]]
    assert [cli(*ngc(registry, *run)).code for run in runs] == [0, 0, 0]


def test_unknown_version_says_how_to_list_them(registry, cli):
    result = cli(*ngc(registry, "-m", MODEL, "-v", "7"))
    assert result.code == 2
    listed = re.search(r"list them with (-lv -m \S+)", result.stderr)
    assert listed, result.stderr
    versions = cli(*ngc(registry, *listed.group(1).split(), "--json"))
    assert versions.code == 0 and {v["version"] for v in versions.json()["versions"]} == {"1", "2"}


def test_unknown_model_suggests_one_that_pulls(registry, cli):
    result = cli(*ngc(registry, "-m", "clara_pt_spleen_ct_segmentaton", "-v", "1"))
    assert result.code == 2
    suggested = re.search(r"did you mean '([^']+)'", result.stderr)
    assert suggested, result.stderr
    assert cli(*ngc(registry, "-m", suggested.group(1), "-v", "1")).code == 0


def test_a_refused_key_says_to_pass_a_valid_one_with_k(registry, cli):
    result = cli(*ngc(registry, "-k", "nvapi-WRONG", "-lm"))
    assert result.code == 6 and "pass a valid NGC API key with -k" in result.stderr
    assert cli(*ngc(registry, "-k", API_KEY, "-lm")).code == 0


def test_retries_exhausted_says_raise_the_retries(registry, cli, monkeypatch):
    registry.fail_500 = 3  # the fixture allows 3 attempts
    result = cli(*ngc(registry, "-lm"))
    assert result.code == 6 and "raise CLARA_TLT_RETRIES" in result.stderr
    registry.fail_500 = 3
    monkeypatch.setenv("CLARA_TLT_RETRIES", "5")
    assert cli(*ngc(registry, "-lm")).code == 0


@pytest.mark.parametrize("name", ["CLARA_TLT_RETRIES", "CLARA_TLT_RETRY_BACKOFF", "CLARA_TLT_TIMEOUT"])
def test_a_setting_that_is_not_a_number_gives_one_that_is(registry, cli, monkeypatch, name):
    monkeypatch.setenv(name, "many")
    result = cli(*ngc(registry, "-lm"))
    assert result.code == 6
    example = re.search(rf"give e\.g\. {name}=(\S+)$", result.stderr.strip())
    assert example, result.stderr
    monkeypatch.setenv(name, example.group(1))
    assert cli(*ngc(registry, "-lm")).code == 0
