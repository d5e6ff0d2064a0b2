"""`dataconvert --shard I/N`: array jobs convert disjoint parts of one input folder into one output folder; the
shards' files are one run's files (series names decided over every input), and `-f` concerns a shard's own files."""

from __future__ import annotations

from pathlib import Path

from tests.test_dataconvert import ct_hu, dataconvert, dicom_tree

__all__ = ["ct_hu", "dicom_tree"]  # fixtures of test_dataconvert.py, used here too


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_two_shards_write_one_runs_files_and_refuse_only_their_own(dicom_tree: Path, tmp_path: Path) -> None:
    whole, shared = tmp_path / "whole", tmp_path / "shared"
    code, _, stderr = dataconvert("-d", str(dicom_tree), "-o", str(whole), "-j", "1")
    assert code == 0, stderr
    parts = []
    for index in (0, 1):
        before = set(shared.iterdir()) if shared.exists() else set()
        code, _, stderr = dataconvert(
            "-d", str(dicom_tree), "-o", str(shared), "-j", "1", "--shard", f"{index}/2"
        )
        assert code == 0, stderr  # shard 1 writes beside shard 0's files without -f
        parts.append({p.name for p in set(shared.iterdir()) - before})
    # patient_b holds two series: named over every input (_s4, _s7) although each shard sees one of them
    assert parts == [
        {"patient_a_ct.nii.gz", "patient_a_ct.json", "patient_b_s7.nii.gz", "patient_b_s7.json"},
        {"patient_b_s4.nii.gz", "patient_b_s4.json"},
    ]
    assert _files(shared) == _files(whole)

    code, _, stderr = dataconvert("-d", str(dicom_tree), "-o", str(shared), "--shard", "1/2")
    assert code == 2 and "shard 1/2 would overwrite 2 file(s)" in stderr and "patient_b_s4" in stderr
    code, _, stderr = dataconvert("-d", str(dicom_tree), "-o", str(shared), "--shard", "1/2", "-f")
    assert code == 0, stderr


def test_a_shard_without_inputs_writes_nothing_and_a_bad_shard_is_exit_2(
    dicom_tree: Path, tmp_path: Path
) -> None:
    code, stdout, stderr = dataconvert("-d", str(dicom_tree), "-o", str(tmp_path / "out"), "--shard", "5/6")
    assert code == 0, stderr
    assert "shard 5/6 holds no input" in stdout and not (tmp_path / "out").exists()
    code, _, stderr = dataconvert("-d", str(dicom_tree), "-o", str(tmp_path / "out"), "--shard", "6/6")
    assert code == 2 and "give I/N with 0 <= I < N" in stderr
