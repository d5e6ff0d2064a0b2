"""Bad DICOM SEG inputs a user meets: a referenced series missing a slice (refused, never filled in, until
--interpolate_missing_slices is asked for), a FRACTIONAL SEG (refused: it holds no labels); each fix works."""

from __future__ import annotations

import json
import re
from pathlib import Path

import highdicom as hd
import nibabel as nib
import numpy as np
import pydicom
import pytest
import torch
from monai.data import MetaTensor
from pydicom.sr.codedict import codes

from clara_tlt.cli.infer import tlt_command as tlt_infer
from clara_tlt.errors import ClaraError, ImageReadError
from clara_tlt.io.dicom_seg import source_datasets
from clara_tlt.io.dicom_series import the_series
from clara_tlt.io.image import read_image
from clara_tlt.synthetic.dicom import write_dicom_series
from clara_tlt.transforms.base import CHANNEL_DIM
from clara_tlt.transforms.layout import ArgmaxAcrossChannels
from clara_tlt.writers.dicom_seg import WriteDicomSeg
from tests.conftest import write_json
from tests.engines.conftest import UNET
from tests.export.conftest import write_checkpoint
from tests.test_cli import invoke_streams
from tests.test_dataconvert import dataconvert

MASK = np.zeros((8, 16, 20), np.uint8)  # (Z, Y, X): slices 1 to 6 labelled
MASK[1:7, 4:10, 4:12] = 1


@pytest.fixture
def series(tmp_path: Path) -> Path:
    """An axial series of 8 slices, 2 mm apart, in tmp_path/in/ct."""
    write_dicom_series(np.zeros(MASK.shape, np.int16), tmp_path / "in" / "ct", spacing=(1.0, 1.0, 2.0))
    return tmp_path / "in" / "ct"


def write_seg(series: Path, target: Path, kind: str = "BINARY") -> Path:
    """A one-segment SEG of MASK over `series` (FRACTIONAL: the mask at 50 %)."""
    algorithm = hd.AlgorithmIdentificationSequence("t", codes.DCM.ArtificialIntelligence, "1")
    segment = hd.seg.SegmentDescription(1, "s1", codes.SCT.Tissue, codes.SCT.Tissue, "AUTOMATIC", algorithm)
    pixels = MASK if kind == "BINARY" else MASK.astype(np.float32) * 0.5
    seg = hd.seg.Segmentation(
        *(source_datasets(the_series(series)), pixels, kind, [segment]),
        *(hd.UID(), 2, hd.UID(), 1, "test", "test", "1", "0"),
    )
    seg.save_as(target)
    return target


def middle_slice(series: Path) -> Path:
    """The file of the series' fifth slice (by position): removing it leaves a gap inside the stack."""
    return sorted(series.iterdir(), key=lambda p: float(pydicom.dcmread(p).ImagePositionPatient[2]))[4]


def test_a_seg_whose_series_misses_a_slice_is_refused_until_interpolation_is_asked(
    series: Path, tmp_path: Path
) -> None:
    write_seg(series, tmp_path / "in" / "seg.dcm")
    middle_slice(series).unlink()
    args = ("-d", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-l", "-j", "1")
    code, _, stderr = dataconvert(*args)
    assert code == 1, stderr
    assert str(series) in stderr and "missing slices?" in stderr and "--interpolate_missing_slices" in stderr
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.nii.gz"))

    code, _, stderr = dataconvert(*args, "--interpolate_missing_slices")  # the fix the message names
    assert code == 0, stderr
    label = np.asarray(nib.load(tmp_path / "out" / "ct.nii.gz").dataobj).transpose(2, 1, 0)
    np.testing.assert_array_equal(label, MASK)  # the SEG's own frame for the gap, not a made-up one


def test_no_seg_is_written_over_a_series_missing_a_slice(series: Path, tmp_path: Path) -> None:
    affine = read_image(series).affine  # the series' own grid
    missing = middle_slice(series)
    kept = missing.read_bytes()
    missing.unlink()
    field = MetaTensor(
        torch.from_numpy(MASK.transpose(2, 1, 0).copy())[None],
        affine=torch.as_tensor(affine),
        meta={"filename_or_obj": str(series), CHANNEL_DIM: 0},
    )
    writer = WriteDicomSeg("model", write_path=str(tmp_path / "out"))
    with pytest.raises(ImageReadError, match=r"missing slices\?.*none is made up.*Find the missing files"):
        writer({"model": field})
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*.dcm"))

    missing.write_bytes(kept)  # the fix: the missing file found
    written = pydicom.dcmread(writer({"model": field})["model_path"])
    assert written.NumberOfFrames == int(MASK.any(axis=(1, 2)).sum())  # frames of real slices only


def test_a_fractional_seg_is_refused_and_its_binary_export_converts(series: Path, tmp_path: Path) -> None:
    write_seg(series, tmp_path / "in" / "seg.dcm", kind="FRACTIONAL")
    args = ("-d", str(tmp_path / "in"), "-l", "-j", "1")
    code, _, stderr = dataconvert(*args, "-o", str(tmp_path / "out"))
    assert code == 1, stderr
    assert "seg.dcm: SegmentationType is FRACTIONAL" in stderr and "as a BINARY SEG" in stderr

    write_seg(series, tmp_path / "in" / "seg.dcm")  # the fix: exported as BINARY
    code, _, stderr = dataconvert(*args, "-o", str(tmp_path / "again"))
    assert code == 0, stderr
    label = np.asarray(nib.load(tmp_path / "again" / "ct.nii.gz").dataobj).transpose(2, 1, 0)
    np.testing.assert_array_equal(label, MASK)


def test_infer_on_a_series_missing_a_slice_names_a_fix_that_runs(
    series: Path, tmp_path: Path, seed_configs: Path
) -> None:
    """infer has no --interpolate_missing_slices: its message names the dataconvert command that fills the gap."""
    middle_slice(series).unlink()
    config = json.loads((seed_configs / "config_validation_spleen.json").read_text())
    datalist = write_json(tmp_path / "in" / "datalist.json", {"validation": [{"image": "ct"}]})
    code, _, stderr = invoke_streams(
        *("--model_save_path", str(write_checkpoint(tmp_path / "models", UNET, [16, 16, 16]))),
        *("--config", str(write_json(tmp_path / "config.json", config)), "--data_file", str(datalist)),
        *("--output_path", str(tmp_path / "out"), "--output-format", "dicom-seg"),
        command=tlt_infer,
    )
    assert code == 4, stderr
    suggested = re.search(r"`clara-tlt dataconvert (.*?)`", stderr)
    assert suggested is not None and str(series) in stderr
    args = suggested.group(1).replace("OUT", str(tmp_path / "converted")).split()
    code, _, stderr = dataconvert(*args, "-j", "1")  # the command the message names
    assert code == 0, stderr
    assert nib.load(tmp_path / "converted" / "ct.nii.gz").shape == (20, 16, 8)


@pytest.mark.parametrize(("values", "says"), [(-1.0, "negative labels"), (0.4, "fractional values")])
def test_an_output_that_holds_no_labels_names_the_case_and_the_argmax_that_fixes_it(
    series: Path, tmp_path: Path, values: float, says: str
) -> None:
    scores = torch.full((2, 20, 16, 8), values)
    scores[1, :, :, 4:] = 1.0  # two classes: the argmax the message asks for gives labels 0 and 1
    meta = {"filename_or_obj": str(series), CHANNEL_DIM: 0}
    affine = torch.as_tensor(read_image(series).affine)
    writer = WriteDicomSeg("model", write_path=str(tmp_path / "out"))
    with pytest.raises(
        ClaraError, match=rf"{re.escape(str(series))}: the output holds {says}.*ArgmaxAcrossChannels"
    ):
        writer({"model": MetaTensor(scores[1:] * values, affine=affine, meta=meta)})
    fixed = ArgmaxAcrossChannels("model")({"model": MetaTensor(scores, affine=affine, meta=meta)})
    assert pydicom.dcmread(writer(fixed)["model_path"]).NumberOfFrames == 4
