"""DICOM SEG out and in: infer writes a SEG in the study of each case's DICOM series that overlays the NIfTI
prediction; dataconvert -l reads it back to the same labels; a SEG without its series, a non-DICOM case."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import highdicom as hd
import nibabel as nib
import numpy as np
import pydicom
import pytest

import clara_tlt
from clara_tlt.cli.infer import tlt_command as tlt_infer
from clara_tlt.synthetic.dicom import write_dicom_series
from tests.conftest import write_json
from tests.engines.conftest import UNET
from tests.export.conftest import write_checkpoint
from tests.test_cli import invoke_streams
from tests.test_dataconvert import dataconvert

OBLIQUE = (
    0.8,
    0.6,
    0.0,
    0.0,
    0.0,
    -1.0,
)  # rows along a tilted x, columns towards the feet: a coronal-ish stack


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory, seed_configs: Path) -> dict[str, Any]:
    """A DICOM series (oblique, files shuffled) and a NIfTI volume, a tiny untrained model, and a validation
    config naming its label; infer has run once writing NIfTI and once writing DICOM SEG."""
    root = tmp_path_factory.mktemp("dicom_seg")
    rng = np.random.default_rng(0)
    hu = rng.normal(40, 120, size=(16, 24, 32)).astype(np.int16)
    write_dicom_series(hu, root / "data" / "ct", spacing=(1.5, 1.2, 3.0), orientation=OBLIQUE, shuffle_seed=3)
    nib.save(nib.Nifti1Image(hu.T.copy(), np.diag([1.5, 1.2, 3.0, 1.0])), root / "data" / "mr.nii.gz")
    config = json.loads((seed_configs / "config_validation_spleen.json").read_text())
    config["inferer"]["args"]["roi_size"] = [16, 16, 16]
    config["writers"] = config["writers"][:1]  # the labels (`model`) only
    config["labels"] = ["spleen"]
    run = {
        "model": write_checkpoint(root / "models", UNET, [16, 16, 16]),
        "config": write_json(root / "config.json", config),
    }
    nifti = _infer(root, run, "nifti", [{"image": "ct"}, {"image": "mr.nii.gz"}])
    seg = _infer(root, run, "seg", [{"image": "ct"}, {"image": "mr.nii.gz"}], "--output-format", "dicom-seg")
    return {"root": root, "nifti": nifti, "seg": seg}


def _infer(root: Path, run: dict[str, Path], name: str, entries: list[dict[str, str]], *extra: str) -> Any:
    datalist = write_json(root / "data" / f"{name}.json", {"validation": entries})
    return invoke_streams(
        *("--model_save_path", str(run["model"]), "--config", str(run["config"])),
        *("--output_path", str(root / name), "--data_file", str(datalist), *extra),
        command=tlt_infer,
    )


def test_infer_writes_a_seg_of_the_source_study_that_overlays_the_nifti_prediction(
    cases: dict[str, Any],
) -> None:
    root = cases["root"]
    assert cases["nifti"][0] == 0, cases["nifti"][2]
    prediction = nib.load(root / "nifti" / "ct" / "ct_model.nii.gz")
    labels = np.asarray(prediction.dataobj)
    assert set(np.unique(labels)) == {0, 1}  # both classes, or the overlay proves little

    path = root / "seg" / "ct" / "ct_model.dcm"
    source = pydicom.dcmread(next((root / "data" / "ct").iterdir()))
    seg = pydicom.dcmread(path)
    assert seg.Modality == "SEG" and seg.SOPClassUID == pydicom.uid.SegmentationStorage
    for keyword in ("StudyInstanceUID", "PatientID", "PatientName", "FrameOfReferenceUID"):
        assert seg[keyword].value == source[keyword].value, keyword
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == source.SeriesInstanceUID
    assert (seg.Manufacturer, seg.SoftwareVersions) == ("clara_tlt", clara_tlt.__version__)
    assert [s.SegmentLabel for s in seg.SegmentSequence] == ["spleen"]

    # highdicom places the SEG in space; on the prediction's grid it is the prediction, voxel for voxel
    volume = hd.seg.segread(path).get_volume(combine_segments=True)
    inverse = np.linalg.inv(np.diag([-1.0, -1.0, 1.0, 1.0]) @ prediction.affine)  # LPS mm → NIfTI voxels
    voxels = np.argwhere(volume.array > 0)
    ijk = (inverse @ volume.affine @ np.c_[voxels, np.ones(len(voxels))].T)[:3].T
    assert np.allclose(ijk, np.rint(ijk), atol=1e-3)
    marked = np.zeros_like(labels)
    marked[tuple(np.rint(ijk).astype(int).T)] = 1
    np.testing.assert_array_equal(marked, labels)


def test_a_case_that_is_not_dicom_fails_alone_for_a_seg(cases: dict[str, Any]) -> None:
    code, _, stderr = cases["seg"]
    assert code == 5, stderr
    assert "mr.nii.gz" in stderr and "--output-format dicom-seg" in stderr and "none is made up" in stderr
    assert not (cases["root"] / "seg" / "mr").exists()
    assert (
        cases["nifti"][0] == 0 and (cases["root"] / "nifti" / "mr" / "mr_model.nii.gz").is_file()
    )  # the fix


def test_dataconvert_reads_the_seg_back_to_the_same_labels(cases: dict[str, Any], tmp_path: Path) -> None:
    root = cases["root"]
    shutil.copytree(root / "data" / "ct", tmp_path / "in" / "ct")
    shutil.copy(root / "seg" / "ct" / "ct_model.dcm", tmp_path / "in" / "seg.dcm")
    code, stdout, stderr = dataconvert(
        "-d", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-l", "-j", "1"
    )
    assert code == 0, stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "ct.json",
        "ct.nii.gz",
    ]  # the series: geometry
    converted = nib.load(tmp_path / "out" / "ct.nii.gz")
    prediction = nib.load(root / "nifti" / "ct" / "ct_model.nii.gz")
    np.testing.assert_allclose(converted.affine, prediction.affine, atol=1e-4)
    np.testing.assert_array_equal(np.asarray(converted.dataobj), np.asarray(prediction.dataobj))
    sidecar = json.loads((tmp_path / "out" / "ct.json").read_text())
    assert [(s["value"], s["label"]) for s in sidecar["series"]["Segments"]] == [(1, "spleen")]
    assert "skipped" not in stdout


def test_a_seg_without_its_series_converts_on_its_own_geometry(cases: dict[str, Any], tmp_path: Path) -> None:
    root = cases["root"]
    (tmp_path / "in").mkdir()
    shutil.copy(root / "seg" / "ct" / "ct_model.dcm", tmp_path / "in" / "SEG0001")  # found by its DICM magic
    code, stdout, stderr = dataconvert(
        "-d", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-l", "-j", "1", "--json"
    )
    assert code == 0, stderr
    [record] = json.loads(stdout)["converted"]
    assert any("its referenced series is not in -d" in note for note in record["notes"])
    converted = nib.load(tmp_path / "out" / "SEG0001.nii.gz")
    prediction = np.asarray(nib.load(root / "nifti" / "ct" / "ct_model.nii.gz").dataobj)
    assert int(np.asarray(converted.dataobj).sum()) == int(
        prediction.sum()
    )  # every labelled voxel, none more
    np.testing.assert_allclose(np.linalg.norm(converted.affine[:3, :3], axis=0), [1.5, 1.2, 3.0], atol=1e-4)
