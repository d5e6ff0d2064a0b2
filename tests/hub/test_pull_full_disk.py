"""A full disk while a download is written: exit 1 at once (never retried as a network failure), naming the
file and its device, and the bytes so far kept for a rerun to resume from."""

from __future__ import annotations

import errno
import io
import os
import shutil

import pytest

from tests.faults import fill_disk
from tests.hub.loopback_registry import MMAR_FILES, ORG, TEAM

MODEL = "clara_pt_spleen_ct_segmentation"


def weights_requests(registry) -> int:
    return sum(path.endswith("models/model.pt") for path in registry.paths())


def test_a_full_disk_fails_at_once_and_a_rerun_resumes(registry, tmp_path, cli, monkeypatch):
    real_usage, dest = shutil.disk_usage, tmp_path / "out"
    args = ["--registry", registry.api, "-o", ORG, "-t", TEAM, "-m", MODEL, "-v", "2", "-d", str(dest)]
    with monkeypatch.context() as full:
        fill_disk(full, room=1000, where=lambda name: "model.pt" in name)
        full.setattr(shutil, "disk_usage", real_usage)  # free when the pull began; filled up by someone else
        result = cli(*args)
    assert result.code == 1, result.stderr
    assert "model.pt: not written: no space left on the device holding" in result.stderr
    assert "retrying" not in result.text and "Traceback" not in result.text
    assert weights_requests(registry) == 1 and not dest.exists()
    partials = [p for p in (tmp_path / "cache").rglob("*.incomplete") if "model.pt" in p.name]
    assert [p.stat().st_size for p in partials] == [1000]  # what landed, kept for the rerun
    assert cli(*args).code == 0
    assert (dest / "models/model.pt").read_bytes() == MMAR_FILES["models/model.pt"]
    assert "bytes=1000-" in [h.get("Range") for p, h in registry.requests if p.endswith("models/model.pt")]


@pytest.mark.parametrize("code", [errno.EDQUOT, errno.EIO])
def test_other_device_errors_fail_at_once_with_the_os_reason(registry, tmp_path, cli, monkeypatch, code):
    real_open = io.open

    class Failing(io.FileIO):
        def write(self, data: object) -> int:
            raise OSError(code, os.strerror(code))

    def open_(file: object, mode: str = "r", *args: object, **kwargs: object) -> object:
        if ".model.pt." in str(file) and "a" in mode:
            return Failing(str(file), "a")
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(io, "open", open_)
    dest = tmp_path / "out"
    result = cli("--registry", registry.api, "-o", ORG, "-t", TEAM, "-m", MODEL, "-v", "2", "-d", str(dest))
    assert result.code == 1 and weights_requests(registry) == 1
    reason = "disk quota exceeded on the device holding" if code == errno.EDQUOT else os.strerror(code)
    assert f"model.pt: not written: {reason}" in result.stderr and "rerun resumes" in result.stderr
