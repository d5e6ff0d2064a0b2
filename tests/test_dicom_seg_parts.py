"""The pieces of DICOM SEG support a user meets on their own: labels put back on the source grid, segment
names from the config, overlapping segments, a SEG cut short, deploy over a folder of DICOM series."""

from __future__ import annotations

from pathlib import Path

import click
import highdicom as hd
import numpy as np
import pydicom
import pytest
import torch
from monai.data import MetaTensor
from pydicom.sr.codedict import codes

from clara_tlt.errors import ConfigError, ImageReadError
from clara_tlt.formats.outputs import IMAGE, OUTPUT_FORMATS
from clara_tlt.io.dicom_seg import read_seg, source_datasets
from clara_tlt.io.dicom_series import the_series
from clara_tlt.synthetic.dicom import write_dicom_series
from clara_tlt.transforms.base import CHANNEL_DIM
from clara_tlt.writers.dicom_seg import WriteDicomSeg, segment_specs
from clara_tlt.written import IncompleteWrite, check_written
from tests.aiaa.conftest import cube_mask, write_ct
from tests.aiaa.test_aiaa import deploy
from tests.aiaa.test_operator import local_config  # noqa: F401  (the operator's config, a fixture)
from tests.test_cli import every_command

SPACING = (1.0, 1.0, 2.0)  # (x, y, z) mm of the source series


@pytest.fixture
def series(tmp_path: Path) -> Path:
    """An axial CT series of 8 slices of 16 × 20 (Z, Y, X) at SPACING."""
    hu = np.zeros((8, 16, 20), np.int16)
    write_dicom_series(hu, tmp_path / "ct", spacing=SPACING, origin=(-5.0, 3.0, 10.0), shuffle_seed=1)
    return tmp_path / "ct"


def test_labels_on_a_resampled_grid_are_put_back_on_the_source_grid(series: Path, tmp_path: Path) -> None:
    """Labels on a 2× coarser grid whose voxel centres lie half a source voxel in: each coarse voxel covers
    two source voxels a side, with no ties for nearest neighbour; segments default to `label k`."""
    coarse = np.random.default_rng(0).integers(0, 3, size=(10, 8, 4)).astype(np.uint8)  # (x, y, z)
    affine = _affine(spacing=(2.0, 2.0, 4.0), lps_origin=(-5.0 + 0.5, 3.0 + 0.5, 10.0 + 1.0))
    field = MetaTensor(
        torch.from_numpy(coarse)[None],
        affine=torch.as_tensor(affine),
        meta={"filename_or_obj": str(series), CHANNEL_DIM: 0},
    )
    written = WriteDicomSeg("model", write_path=str(tmp_path / "out"))({"model": field})["model_path"]
    label = read_seg(Path(written), the_series(series))
    expected = coarse.repeat(2, axis=0).repeat(2, axis=1).repeat(2, axis=2).transpose(2, 1, 0)
    np.testing.assert_array_equal(label.array, expected)
    assert [s["label"] for s in label.meta["Segments"]] == ["label 1", "label 2"]


def test_segment_names_and_codes_come_from_the_config_labels() -> None:
    liver = {"name": "liver", "type": ["10200004", "SCT", "Liver"]}
    specs = segment_specs(["spleen", liver])
    assert [(s.value, s.label, s.kind[2]) for s in specs] == [(1, "spleen", "Tissue"), (2, "liver", "Liver")]
    assert [(s.value, s.label) for s in segment_specs({"background": 0, "tumour": 2})] == [(2, "tumour")]
    for bad in ({"spleen": "one"}, [""], "spleen", [{"name": "x", "type": ["1", "SCT"]}]):
        with pytest.raises(ConfigError, match=r"config_validation\.json: labels"):
            segment_specs(bad, file="config_validation.json")


def test_overlapping_segments_are_refused_naming_the_file(series: Path, tmp_path: Path) -> None:
    masks = np.zeros((8, 16, 20, 2), bool)
    masks[2:5, 4:10, 4:10, 0] = True
    masks[4:6, 4:10, 4:10, 1] = True  # slice 4 lies in both
    algorithm = hd.AlgorithmIdentificationSequence(
        name="test", version="1", family=codes.DCM.ArtificialIntelligence
    )
    descriptions = [
        hd.seg.SegmentDescription(
            number, f"s{number}", codes.SCT.Tissue, codes.SCT.Tissue, "AUTOMATIC", algorithm
        )
        for number in (1, 2)
    ]
    seg = hd.seg.Segmentation(
        *(source_datasets(the_series(series)), masks.astype(np.uint8), "BINARY", descriptions),
        *(hd.UID(), 2, hd.UID(), 1, "test", "test", "1", "0"),
    )
    seg.save_as(tmp_path / "overlap.dcm")
    with pytest.raises(ImageReadError, match=r"overlap\.dcm: .*segments overlap.*one SEG per segment"):
        read_seg(tmp_path / "overlap.dcm", the_series(series))


def test_a_seg_cut_short_is_not_whole(series: Path, tmp_path: Path) -> None:
    labels = MetaTensor(
        torch.ones(1, 20, 16, 8, dtype=torch.uint8),
        affine=torch.as_tensor(_affine(spacing=SPACING, lps_origin=(-5.0, 3.0, 10.0))),
        meta={"filename_or_obj": str(series), CHANNEL_DIM: 0},
    )
    written = Path(WriteDicomSeg("model", write_path=str(tmp_path))({"model": labels})["model_path"])
    check_written(written, written)  # whole: parses, and its pixel bytes are there
    assert pydicom.dcmread(written).NumberOfFrames == 8
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(written.read_bytes()[:-100])
    with pytest.raises(IncompleteWrite):
        check_written(cut, cut)


def _affine(*, spacing: tuple[float, ...], lps_origin: tuple[float, ...]) -> np.ndarray:
    """The RAS affine of an axial grid of `spacing` whose first voxel lies at `lps_origin`."""
    matrix = np.diag([-spacing[0], -spacing[1], spacing[2], 1.0])
    matrix[:3, 3] = np.multiply(lps_origin, (-1, -1, 1))
    return matrix


def test_deploy_writes_a_seg_per_dicom_series_of_its_input_folder(
    local_config: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The operator takes DICOM series subfolders too; under dicom-seg a NIfTI volume fails alone (exit 5)."""
    mask = cube_mask()  # (x, y, z): the threshold network's labels of 150 HU in 0 HU
    inputs = tmp_path / "in"
    write_dicom_series(np.where(mask, 150, 0).astype(np.int16).transpose(2, 1, 0), inputs / "ct")
    write_ct(inputs / "ct_a.nii.gz", mask)  # not DICOM: fails alone
    code, _, stderr = deploy(
        *("--config", local_config, "--input", inputs, "--output", tmp_path / "out"),
        *("--output-format", "dicom-seg"),
    )
    assert code == 5 and "ct_a.nii.gz" in stderr and "--output-format dicom-seg" in stderr, stderr
    label = read_seg(tmp_path / "out" / "ct" / "ct_model.dcm", the_series(inputs / "ct"))
    np.testing.assert_array_equal(label.array, mask.transpose(2, 1, 0))


def test_a_source_series_without_a_frame_of_reference_gets_no_seg(series: Path) -> None:
    for path in series.iterdir():
        ds = pydicom.dcmread(path)
        del ds.FrameOfReferenceUID
        ds.save_as(path)
    with pytest.raises(ImageReadError, match=r"IM\d+\.dcm: names no FrameOfReferenceUID"):
        source_datasets(the_series(series))


def test_dicom_seg_takes_the_place_of_each_image_writer(tmp_path: Path) -> None:
    from clara_tlt.engines.assembly import formatted_writers
    from clara_tlt.errors import UsageError
    from clara_tlt.writers import WriteMhd, WriteNiftyResults
    from clara_tlt.writers.classification import WriteClassificationResult

    csv = WriteClassificationResult("model", write_path=str(tmp_path / "scores.csv"))
    writers = [WriteNiftyResults("model", str(tmp_path)), WriteMhd("pred_class1", str(tmp_path / "p")), csv]
    model, split, kept = formatted_writers(writers, "dicom-seg", labels=["spleen"], file="config.json")
    assert [s.label for s in model.segments] == ["spleen"] and model.write_path == tmp_path
    assert [s.label for s in split.segments] == ["pred_class1"] and split.write_path == tmp_path / "p"
    assert kept is csv and formatted_writers(writers, "image") == writers
    with pytest.raises(UsageError, match=r"config\.json writes no image to turn into a DICOM SEG"):
        formatted_writers([csv], "dicom-seg", file="config.json")


def test_every_output_format_option_offers_the_names_the_writers_compare_with() -> None:
    """infer (both dialects) and deploy offer the `--output-format` names of clara_tlt.formats.outputs, the one
    definition the assembly and the DICOM SEG writer compare with; `image` by default."""
    options = [p for c in every_command() for p in c.params if "--output-format" in p.opts]
    assert len(options) >= 3, options
    for option in options:
        assert isinstance(option.type, click.Choice)
        assert tuple(option.type.choices) == OUTPUT_FORMATS and option.default == IMAGE
