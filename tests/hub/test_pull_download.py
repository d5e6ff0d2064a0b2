"""Resumable, checked downloads: a cut connection, a server that ignores Range, corruption, 5xx, disk space."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from clara_tlt.errors import DownloadError
from clara_tlt.hub import RegistrySettings, RetryPolicy, pull
from clara_tlt.hub.download import fetch, partial_path
from clara_tlt.hub.http import HttpClient
from clara_tlt.hub.registry import RemoteFile
from tests.hub.loopback_registry import MMAR_FILES, ORG, TEAM

MODEL = "clara_pt_spleen_ct_segmentation"
WEIGHTS = f"{MODEL}/2/models/model.pt"


def settings(registry, cache: Path, attempts: int = 3) -> RegistrySettings:
    return RegistrySettings(
        registry.api,
        registry.auth,
        ORG,
        TEAM,
        cache_dir=cache,
        retry=RetryPolicy(attempts=attempts, backoff=0.01, timeout=10),
    )


def range_requests(registry) -> list[str]:
    return [h["Range"] for p, h in registry.requests if p.endswith("models/model.pt") and "Range" in h]


def test_cut_connection_resumes_with_range(registry, tmp_path):
    registry.cut_once.add(WEIGHTS)
    result = pull(settings(registry, tmp_path / "c"), MODEL, "2", dest=tmp_path / "out")
    assert (tmp_path / "out" / "models/model.pt").read_bytes() == MMAR_FILES["models/model.pt"]
    half = len(MMAR_FILES["models/model.pt"]) // 2
    assert range_requests(registry) == [f"bytes={half}-"]
    assert not list((tmp_path / "c").rglob("*.incomplete")) and result["from_cache"] is False


def test_a_failed_resume_request_keeps_the_bytes_so_far(registry, tmp_path):
    registry.cut_once.add(WEIGHTS)
    registry.fail_after_cut = 1  # the first resume request gets a 500
    pull(settings(registry, tmp_path / "c", attempts=4), MODEL, "2", dest=tmp_path / "out")
    assert (tmp_path / "out" / "models/model.pt").read_bytes() == MMAR_FILES["models/model.pt"]
    half = len(MMAR_FILES["models/model.pt"]) // 2
    assert range_requests(registry) == [f"bytes={half}-", f"bytes={half}-"]


def test_server_ignoring_range_restarts_the_file_cleanly(registry, tmp_path):
    registry.cut_once.add(WEIGHTS)
    registry.ignore_range = True
    pull(settings(registry, tmp_path / "c"), MODEL, "2", dest=tmp_path / "out")
    assert (tmp_path / "out" / "models/model.pt").read_bytes() == MMAR_FILES["models/model.pt"]
    assert len(range_requests(registry)) == 1  # asked to resume, got 200 with everything, started over


def test_a_later_run_resumes_an_interrupted_file(registry, tmp_path):
    data = MMAR_FILES["models/model.pt"]
    target = tmp_path / "model.pt"
    url = f"{registry.api}/v2/models/{ORG}/{TEAM}/{MODEL}/versions/2/files/models/model.pt"
    file = RemoteFile("model.pt", url, len(data))
    partial_path(target, url).write_bytes(data[:1000])
    fetch(file, target, client=HttpClient(RetryPolicy(attempts=2, backoff=0.01)))
    assert target.read_bytes() == data
    assert range_requests(registry) == ["bytes=1000-"]
    assert not partial_path(target, url).exists()


def test_corrupt_payload_fails_with_6_and_leaves_nothing(registry, tmp_path, cli):
    registry.corrupt.add(WEIGHTS)
    cache, dest = tmp_path / "cache", tmp_path / "out"
    args = ["--registry", registry.api, "-o", ORG, "-t", TEAM, "-m", MODEL, "-v", "2", "-d", str(dest)]
    result = cli(*args)
    assert result.code == 6
    assert (
        "checksum failure" in result.stderr
        and "sha256" in result.stderr
        and "models/model.pt" in result.stderr
    )
    assert not dest.exists()
    assert not [p for p in cache.rglob("*") if p.is_file() and p.suffix != ".lock"]
    # and it is not mistaken for a cached version afterwards
    registry.corrupt.clear()
    assert cli(*args).code == 0
    assert (dest / "models/model.pt").read_bytes() == MMAR_FILES["models/model.pt"]


def test_http_500_is_retried(registry, tmp_path):
    registry.fail_500 = 2
    result = pull(settings(registry, tmp_path / "c", attempts=3), MODEL, "2")
    assert result["version"] == "2"


def test_http_500_that_persists_fails_cleanly(registry, tmp_path, cli):
    registry.fail_500 = 10**6
    dest = tmp_path / "out"
    result = cli("--registry", registry.api, "-o", ORG, "-t", TEAM, "-m", MODEL, "-v", "2", "-d", str(dest))
    assert result.code == 6
    assert (
        "after 3 attempts" in result.stderr
        and "HTTP 500" in result.stderr
        and "try again later" in result.stderr
    )
    assert "Traceback" not in result.text
    assert len(registry.requests) == 3 and not dest.exists()


def test_not_enough_disk_space_is_refused_before_downloading(registry, tmp_path, monkeypatch):
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=1000))
    with pytest.raises(DownloadError, match="not enough disk space"):
        pull(settings(registry, tmp_path / "c"), MODEL, "2")
    assert not any(p.endswith("model.pt") for p in registry.paths())


def test_unreachable_registry_says_what_to_check(tmp_path):
    unreachable = RegistrySettings("http://127.0.0.1:9", cache_dir=tmp_path, retry=RetryPolicy(attempts=1))
    with pytest.raises(DownloadError, match=r"cannot reach .*--registry"):
        pull(unreachable, MODEL, "2")
