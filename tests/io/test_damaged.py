"""Damaged input is refused, never filled in: cut DICOM slices, missing slices, volumes that end early, NaN."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from clara_tlt.io import ImageReadError, Volume, read_image, scan_dicom_folder, write_image
from clara_tlt.synthetic.dicom import write_dicom_series
from tests.io.conftest import CT_SERIES, CT_UNEVEN, DAMAGES, assert_same_geometry, damage, pydicom_file


@pytest.fixture
def real_ct(tmp_path) -> Path:
    """A copy of pydicom's 5-slice real CT series (files without a suffix, as scanners write them)."""
    return Path(shutil.copytree(CT_SERIES, tmp_path / "CT5N"))


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_slice_of_a_real_series_fails_the_series_naming_the_file(real_ct, how):
    victim = sorted(real_ct.iterdir())[2]  # a middle slice: its hole would be interpolated over
    damage(victim, how)
    with pytest.raises(ImageReadError) as caught:
        read_image(real_ct)
    assert str(victim) in str(caught.value)


@pytest.mark.parametrize("how", ["zero bytes", "header cut short", "pixel data missing"])
def test_scan_gives_the_damaged_slice_to_its_series(real_ct, how):
    victim = sorted(real_ct.iterdir())[0]  # the first slice: no gap would even show
    damage(victim, how)
    scan = scan_dicom_folder(real_ct)
    assert len(scan.series) == 1 and list(scan.series[0].damaged) == [str(victim)]
    assert len(scan.series[0].slices) == 4 and not scan.unreadable and not scan.skipped
    said = {"zero bytes": "empty: 0 bytes", "header cut short": "pixel data is missing"}.get(how, "missing")
    assert said in scan.series[0].damaged[str(victim)]


@pytest.mark.filterwarnings("ignore:End of file reached before delimiter")  # pydicom's word on the cut
def test_truncated_compressed_slice_fails(tmp_path):
    """A JPEG 2000 slice cut inside its fragments: pydicom drops the pixel data, we call the file damaged."""
    path = tmp_path / "j2k.dcm"
    data = Path(pydicom_file("MR_small_jp2klossless.dcm")).read_bytes()
    path.write_bytes(data[: int(len(data) * 0.9)])
    with pytest.raises(ImageReadError, match=r"j2k\.dcm: its pixel data is missing"):
        read_image(path)


def test_non_image_objects_beside_a_series_are_skipped_not_failures(real_ct):
    shutil.copy(pydicom_file("DICOMDIR"), real_ct / "DICOMDIR")
    report = pydicom.Dataset()
    report.SOPClassUID = pydicom.uid.BasicTextSRStorage
    report.SOPInstanceUID = pydicom.uid.generate_uid()
    report.Modality = "SR"
    report.file_meta = pydicom.dataset.FileMetaDataset()
    report.file_meta.MediaStorageSOPClassUID = report.SOPClassUID
    report.file_meta.MediaStorageSOPInstanceUID = report.SOPInstanceUID
    report.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    report.save_as(real_ct / "9999", enforce_file_format=True)
    (real_ct / "VERSION").write_text("1.0\n")  # media text file: neither DICOM nor a cut slice
    scan = scan_dicom_folder(real_ct)
    assert len(scan.series) == 1 and not scan.series[0].damaged and not scan.unreadable
    assert sorted(note.split(":")[0] for note in scan.skipped) == ["9999", "DICOMDIR"]
    assert "Media Storage Directory" in " ".join(scan.skipped) and "SR Storage" in " ".join(scan.skipped)
    assert read_image(real_ct).shape[0] == 5


def test_a_deleted_middle_slice_is_missing_slices_not_an_uneven_series(real_ct):
    victim = sorted(real_ct.iterdir())[2]
    victim.unlink()
    with pytest.raises(
        ImageReadError, match=r"missing slices\? 1 slice\(s\).*5\.000 mm = 2 × 2\.500 mm"
    ) as caught:
        read_image(real_ct)
    assert "--interpolate_missing_slices" in str(caught.value)
    volume = read_image(real_ct, interpolate_missing_slices=True)
    assert volume.shape[0] == 5 and any("interpolated" in note for note in volume.notes)


def test_real_series_with_a_gap_of_whole_slices_needs_the_flag():
    with pytest.raises(
        ImageReadError, match=r"missing slices\? 161 slice\(s\).*202\.500 mm = 162 × 1\.250 mm"
    ):
        read_image(CT_UNEVEN)


def test_uneven_gaps_that_are_no_whole_multiple_are_regularised_without_a_flag(tmp_path):
    hu = np.zeros((6, 8, 8), np.int16)
    write_dicom_series(hu, tmp_path / "s", slice_offsets=[0, 2, 4, 7, 9, 11], spacing=(1, 1, 2))
    volume = read_image(tmp_path / "s")
    assert any("uneven slice gaps (2.000-3.000 mm)" in note for note in volume.notes)


def nifti_bytes(tmp_path: Path, dtype=np.int16) -> tuple[Path, bytes]:
    array = np.arange(12 * 16 * 16).reshape(16, 16, 12).astype(dtype) % 300 + 1  # no zeros anywhere
    path = tmp_path / "ct.nii.gz"
    nib.save(nib.Nifti1Image(array, np.diag([0.8, 0.8, 2.5, 1])), path)
    return path, path.read_bytes()


@pytest.mark.parametrize("cut", ["half", "trailer"])
def test_nibabel_nifti_gz_that_ends_early_fails_instead_of_zero_fill(tmp_path, cut):
    path, data = nifti_bytes(tmp_path)
    assert read_image(path).array.min() == 1  # the whole file reads
    path.write_bytes(data[: len(data) // 2] if cut == "half" else data[:-8])
    with pytest.raises(ImageReadError, match=r"ct\.nii\.gz: the compressed stream ends early"):
        read_image(path)


def test_uncompressed_nifti_that_ends_early_fails(tmp_path):
    _, data = nifti_bytes(tmp_path)
    path = tmp_path / "ct.nii"
    path.write_bytes(gzip.decompress(data)[:-10])
    with pytest.raises(ImageReadError, match=r"ct\.nii: the file ends early: \d+ of the \d+ bytes"):
        read_image(path)


def test_complete_gzip_of_a_cut_nifti_fails(tmp_path):
    _, data = nifti_bytes(tmp_path)
    path = tmp_path / "cut.nii.gz"
    path.write_bytes(gzip.compress(gzip.decompress(data)[:-500]))
    with pytest.raises(ImageReadError, match=r"cut\.nii\.gz: the uncompressed stream ends early"):
        read_image(path)


def test_zero_padding_after_the_last_gzip_member_is_allowed(tmp_path):
    path, data = nifti_bytes(tmp_path)
    path.write_bytes(data + bytes(64))
    assert read_image(path).array.min() == 1


@pytest.mark.parametrize("suffix", [".mha", ".nrrd", ".mhd"])
def test_compressed_metaimage_and_nrrd_that_end_early_fail(tmp_path, suffix):
    volume = Volume(np.arange(12 * 32 * 32, dtype=np.int16).reshape(12, 32, 32))
    path = write_image(volume, tmp_path / f"ct{suffix}")
    data_file = path.with_suffix(".zraw") if suffix == ".mhd" else path
    data = data_file.read_bytes()
    data_file.write_bytes(data[: len(data) - 200])
    with pytest.raises(
        ImageReadError, match=rf"ct\{suffix}: cannot read: .*(cannot be read|expected \d+ bytes but received)"
    ):
        read_image(path)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_infinity_are_refused_or_replaced_as_told(tmp_path, bad):
    array = np.ones((4, 8, 8), np.float32)
    array[1, 2, 3] = array[2, 3, 4] = bad
    path = tmp_path / "prob.nii.gz"
    nib.save(nib.Nifti1Image(array.T, np.eye(4)), path)
    with pytest.raises(ImageReadError, match=r"prob\.nii\.gz: 2 voxel\(s\) are NaN or infinite"):
        read_image(path)
    volume = read_image(path, replace_nonfinite=-1.0)
    assert np.isfinite(volume.array).all() and (volume.array == -1).sum() == 2
    assert volume.notes == ["2 NaN/infinite voxel(s) replaced by -1 (replace_nonfinite)"]


@pytest.mark.parametrize("dtype", ["<i2", ">i2", "<u1", "<f4", ">f8", "<i4"])
def test_plain_nifti_read_by_us_matches_simpletk_voxels_and_geometry(tmp_path, dtype):
    rng = np.random.default_rng(2)
    array = rng.integers(0, 200, (10, 12, 14)).astype(dtype)
    c, s = np.cos(0.3), np.sin(0.3)
    affine = np.array(
        [[c * 0.9, -s * 0.8, 0, 12.0], [s * 0.9, c * 0.8, 0, -30.0], [0, 0, -2.5, 7.0], [0, 0, 0, 1]]
    )
    path = tmp_path / "plain.nii.gz"
    nib.save(nib.Nifti1Image(array, affine), path)
    volume, reference = read_image(path), sitk.ReadImage(str(path))
    np.testing.assert_array_equal(volume.array, sitk.GetArrayFromImage(reference))
    assert volume.array.dtype == sitk.GetArrayFromImage(reference).dtype and volume.array.flags.writeable
    assert_same_geometry(volume, reference)


def test_scaled_nifti_goes_through_itk_and_its_nan_is_still_refused(tmp_path):
    array = np.ones((6, 8, 10), np.float32)
    array[2, 3, 4] = np.nan
    image = nib.Nifti1Image(array, np.eye(4))
    image.header.set_slope_inter(2.0, 1.0)
    path = tmp_path / "scaled.nii.gz"
    nib.save(image, path)
    with pytest.raises(ImageReadError, match=r"scaled\.nii\.gz: 1 voxel\(s\) are NaN or infinite"):
        read_image(path)
    volume = read_image(path, replace_nonfinite=7.0)
    assert volume.array[4, 3, 2] == 7.0 and np.count_nonzero(volume.array == 3.0) == array.size - 1


@pytest.mark.parametrize("sop_class", ["SecondaryCaptureImageStorage", "CTImageStorage"])
def test_an_image_without_geometry_is_skipped_only_when_of_another_sop_class(tmp_path, ct_hu, sop_class):
    files = write_dicom_series(ct_hu, tmp_path / "s")
    odd = pydicom.dcmread(files[0])
    del odd.ImagePositionPatient
    odd.SOPClassUID = odd.file_meta.MediaStorageSOPClassUID = getattr(pydicom.uid, sop_class)
    odd.SOPInstanceUID = odd.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    odd.save_as(tmp_path / "s" / "screen.dcm")
    if sop_class == "CTImageStorage":  # a CT slice that lost its position: the series cannot be trusted
        with pytest.raises(ImageReadError, match=r"screen\.dcm: cannot place this image in space"):
            read_image(tmp_path / "s")
    else:  # a screenshot saved into the series is not one of its slices
        volume = read_image(tmp_path / "s")
        np.testing.assert_array_equal(volume.array, ct_hu)
        assert "screen.dcm: skipped, Secondary Capture Image Storage without patient geometry" in volume.notes


def test_a_slice_stored_unsigned_among_signed_ones_keeps_its_values(tmp_path):
    hu = np.full((4, 8, 8), -1000, np.int16)
    files = write_dicom_series(hu, tmp_path / "s")
    odd = pydicom.dcmread(files[2])
    odd.PixelRepresentation = 0  # unsigned: stored values up to 65535 must not wrap into int16
    odd.PixelData = np.full((8, 8), 40000, np.uint16).tobytes()
    odd.save_as(files[2])
    volume = read_image(tmp_path / "s")
    assert volume.array[2].min() == volume.array[2].max() == 40000 - 1024
    assert volume.array[0].max() == -1000
