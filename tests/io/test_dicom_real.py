"""Real DICOM from pydicom's test data: geometry as SimpleITK's reader gives it, voxels identical."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from clara_tlt.io import read_image
from clara_tlt.io.dicom_pixels import decode_slices
from clara_tlt.io.dicom_scan import SliceInfo
from tests.io.conftest import CT_SERIES, CT_UNEVEN, assert_same_geometry, pydicom_file, sitk_series


def test_real_ct_series_matches_simpleitk_series_reader():
    volume = read_image(CT_SERIES)
    reference = sitk_series(CT_SERIES)
    assert_same_geometry(volume, reference)
    np.testing.assert_array_equal(volume.array, sitk.GetArrayFromImage(reference))
    assert volume.array.dtype == np.int16  # HU with intercept -1024 stay exact integers
    assert volume.array.min() < -800  # rescale applied: stored values are all positive, HU reach -888


@pytest.mark.parametrize(
    "name",
    [
        "MR_small.dcm",
        "MR_small_RLE.dcm",
        "MR_small_jp2klossless.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
        "693_J2KR.dcm",
        "CT_small.dcm",
    ],
)
def test_single_files_in_every_transfer_syntax_match_simpleitk(name):
    path = pydicom_file(name)
    volume = read_image(path)
    reference = sitk.ReadImage(path)
    assert_same_geometry(volume, reference)
    np.testing.assert_array_equal(volume.array, sitk.GetArrayFromImage(reference))


def test_compressed_syntaxes_decode_to_the_same_voxels():
    arrays = [
        read_image(pydicom_file(n)).array
        for n in (
            "MR_small.dcm",
            "MR_small_RLE.dcm",
            "MR_small_jp2klossless.dcm",
            "MR_small_jpeg_ls_lossless.dcm",
        )
    ]
    for array in arrays[1:]:
        np.testing.assert_array_equal(array, arrays[0])


def test_jpeg_lossless_process_14_decodes_like_gdcm():
    path = pydicom_file("JPEG-LL.dcm")  # no patient geometry: decode only
    plane = SliceInfo(path, None, 1024, 256, (0, 0, 0), (1, 0, 0, 0, 1, 0), (1, 1), 1.0, 0.0)
    decoded = decode_slices([plane])
    np.testing.assert_array_equal(decoded[0], sitk.GetArrayFromImage(sitk.ReadImage(path)).reshape(1024, 256))


def test_enhanced_multiframe_ct_places_frames_like_gdcm():
    path = pydicom_file("eCT_Supplemental.dcm")
    volume = read_image(path)
    reference = sitk.ReadImage(path)
    # GDCM keeps file order with a left-handed +z axis; we sort along the true normal: same voxels in space.
    assert np.linalg.det(volume.direction) == pytest.approx(1.0)
    np.testing.assert_array_equal(volume.array, sitk.GetArrayFromImage(reference)[::-1])
    corner = volume.index_to_physical(np.array([[0, 0, volume.shape[0] - 1]]))[0]
    np.testing.assert_allclose(corner, reference.GetOrigin(), atol=1e-3)
    np.testing.assert_allclose(volume.spacing, reference.GetSpacing(), atol=1e-4)


def test_real_series_with_missing_slices_is_regularised_when_asked_and_keeps_input_slices():
    volume = read_image(CT_UNEVEN, interpolate_missing_slices=True)  # refused without: test_damaged.py
    assert any("missing slices?" in note and "interpolated" in note for note in volume.notes)
    assert volume.spacing[2] == pytest.approx(1.25, abs=1e-4)
    assert volume.shape[0] == 165  # 205 mm at 1.25 mm
    raw = sitk.GetArrayFromImage(sitk_series(CT_UNEVEN))  # 4 slices, unevenly spaced
    np.testing.assert_array_equal(volume.array[0], raw[0])
    np.testing.assert_array_equal(volume.array[-3:], raw[1:])  # output planes land on the 3 close slices
