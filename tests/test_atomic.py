"""A full disk is never a success: every writer's failure (ENOSPC midway, ITK's short file) fails the write,
names the file and the device, leaves no temporary file and keeps an older file at the target byte for byte."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from clara_tlt.atomic import atomic_path, write_text_atomic
from clara_tlt.engines.checkpoint import load_checkpoint, save_checkpoint
from clara_tlt.engines.reports import write_reports
from clara_tlt.errors import WriteError
from clara_tlt.io import Volume, read_image, write_image
from tests.faults import fill_disk, leftovers, no_space, short_itk_writes

VOLUME = Volume(np.arange(16 * 16 * 8, dtype=np.int16).reshape(8, 16, 16), (1.0, 1.0, 2.0))


def assert_failed_write(error: WriteError, target: Path, older: bytes) -> None:
    """The message names the file and the full device; nothing temporary is left; the older file is kept."""
    assert str(target) in str(error)
    assert f"no space left on the device holding {target.parent}" in str(error)
    assert f"the older {target.name} there is kept" in str(error)
    assert target.read_bytes() == older
    assert leftovers(target.parent) == []


@pytest.mark.parametrize("name", ["ct.nii.gz", "ct.nii", "ct.mha", "ct.mhd", "ct.nrrd"])
def test_an_image_write_that_hits_a_full_disk_fails_and_keeps_the_older_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    target = write_image(VOLUME, tmp_path / name)
    older = target.read_bytes()
    # ITK writes .nii/.mha/.nrrd itself (a short file, no error); .nii.gz and .mhd's header go through Python
    short_itk_writes(monkeypatch)
    fill_disk(monkeypatch, room=600)
    with pytest.raises(WriteError) as caught:
        write_image(Volume(VOLUME.array + 1, VOLUME.spacing), target)
    assert_failed_write(caught.value, target, older)
    assert not list(tmp_path.glob("*.raw")) or name == "ct.mhd"


def test_itk_s_short_file_is_caught_even_with_space_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    short_itk_writes(monkeypatch, keep=0.0)  # an empty file: what used to end in "max_workers must be > 0"
    with pytest.raises(WriteError, match=r"ct\.nii\.gz: not written: the writer stopped short") as caught:
        write_image(VOLUME, tmp_path / "ct.nii.gz")
    assert "no readable NIfTI header" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_nibabel_enospc_midway_fails_the_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "label.nii.gz"
    target.write_bytes(b"older")
    fill_disk(monkeypatch, room=100)
    image = nib.Nifti1Image(np.arange(16 * 16 * 8, dtype=np.float32).reshape(16, 16, 8), np.eye(4))
    with pytest.raises(WriteError) as caught, atomic_path(target) as tmp:
        nib.save(image, tmp)
    assert_failed_write(caught.value, target, b"older")


def test_a_checkpoint_write_that_hits_a_full_disk_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = save_checkpoint(tmp_path / "model.pt", {"model": {"w": torch.zeros(4)}})
    older = target.read_bytes()
    fill_disk(monkeypatch, room=4096)
    with pytest.raises(WriteError) as caught:
        save_checkpoint(target, {"model": {"w": torch.ones(10_000)}})
    assert "basic_ios" not in str(caught.value)
    assert_failed_write(caught.value, target, older)
    assert torch.equal(load_checkpoint(target)["model"]["w"], torch.zeros(4))


def test_a_json_report_write_that_hits_a_full_disk_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("metrics.csv", "metrics.json"):
        write_text_atomic(tmp_path / name, f"older {name}\n")
    fill_disk(monkeypatch, room=10)
    with pytest.raises(WriteError) as caught:
        write_reports([], [], {"metrics": {}, "summary": {}, "failed": []}, output_dir=tmp_path)
    assert_failed_write(caught.value, tmp_path / "metrics.csv", b"older metrics.csv\n")
    assert (tmp_path / "metrics.json").read_text() == "older metrics.json\n"


@pytest.mark.parametrize(
    ("code", "says"),
    [(errno.EDQUOT, "disk quota exceeded on the device holding"), (errno.EIO, "Input/output error")],
)
def test_other_device_errors_give_the_os_reason(tmp_path: Path, code: int, says: str) -> None:
    target = tmp_path / "out.json"
    with pytest.raises(WriteError, match=says) as caught, atomic_path(target):
        raise OSError(code, "from the device")
    assert str(target) in str(caught.value) and not target.exists() and leftovers(tmp_path) == []


def test_errors_of_the_data_itself_pass_through_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValueError, match="bad data"), atomic_path(tmp_path / "x.json"):
        raise ValueError("bad data")  # with space on the device: the writer's own error, as it was
    no_space(monkeypatch)
    with (
        pytest.raises(WriteError, match="no space left on the device") as caught,
        atomic_path(tmp_path / "x.pt"),
    ):
        raise RuntimeError("basic_ios::clear: iostream error")  # a C++ writer on a full disk
    assert "basic_ios" in str(caught.value)  # the writer's words kept, after ours
    assert leftovers(tmp_path) == []


def test_a_whole_write_lands_and_reads_back(tmp_path: Path) -> None:
    for name in ("ct.nii.gz", "ct.mhd", "ct.mha"):
        np.testing.assert_array_equal(read_image(write_image(VOLUME, tmp_path / name)).array, VOLUME.array)
    save_checkpoint(tmp_path / "model.pt", {"model": {}})
    write_text_atomic(tmp_path / "r.json", json.dumps({"a": 1}))
    assert leftovers(tmp_path) == []
