"""Series written by `clara_tlt.synthetic.dicom`: oblique, shuffled, tilted, uneven, mixed, localizers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import SimpleITK as sitk

from clara_tlt.io import read_image, scan_dicom_folder
from clara_tlt.synthetic.dicom import slice_planes, write_dicom_series
from tests.io.conftest import assert_same_geometry, sitk_series

OBLIQUE = (
    math.cos(0.3),
    0.6 * math.sin(0.3),
    0.8 * math.sin(0.3),
    -math.sin(0.3),
    0.6 * math.cos(0.3),
    0.8 * math.cos(0.3),
)


def ramp(points: np.ndarray) -> np.ndarray:
    """A linear function of LPS position: linear interpolation reproduces it exactly."""
    return 3.0 * points[..., 0] - 2.0 * points[..., 1] + 5.0 * points[..., 2] + 100.0


def ramp_series(tmp_path, **geometry) -> tuple[list, np.ndarray]:
    """Write a 12×24×20 series whose voxels are `ramp` at their true positions; returns (planes, spacing)."""
    spacing = np.array([0.9, 0.8, 2.0])
    planes = slice_planes(12, spacing_z=spacing[2], **geometry)
    j, i = np.mgrid[0:24, 0:20]
    hu = np.empty((12, 24, 20), np.int16)
    for k, (position, iop) in enumerate(planes):
        points = position + i[..., None] * spacing[0] * iop[:3] + j[..., None] * spacing[1] * iop[3:]
        hu[k] = np.rint(ramp(points))
    write_dicom_series(hu, tmp_path / "ramp", spacing=tuple(spacing), shuffle_seed=5, **geometry)
    return planes, spacing


def test_oblique_shuffled_series_matches_simpleitk(tmp_path, ct_hu):
    write_dicom_series(
        ct_hu,
        tmp_path / "s",
        spacing=(0.7, 0.8, 2.5),
        origin=(10, -20, 30),
        orientation=OBLIQUE,
        shuffle_seed=1,
    )
    volume = read_image(tmp_path / "s")
    reference = sitk_series(tmp_path / "s")
    assert_same_geometry(volume, reference)
    np.testing.assert_array_equal(volume.array, ct_hu)  # sorted along the normal, not by name/InstanceNumber
    np.testing.assert_array_equal(volume.array, sitk.GetArrayFromImage(reference))
    assert not volume.notes


@pytest.mark.parametrize(
    ("offsets", "flag", "said", "count"),
    [
        ([0, 2, 4, 6, 8, 11, 13, 15, 17, 19, 21, 23], False, "uneven slice gaps", 13),  # acquired unevenly
        ([0, 2, 4, 6, 8, 12, 14, 16, 18, 20, 22, 24], True, "missing slices? 1 slice(s)", 13),  # one lost
    ],
)
def test_uneven_gaps_are_resampled_onto_an_even_grid_exactly(tmp_path, offsets, flag, said, count):
    ramp_series(tmp_path, slice_offsets=offsets, origin=(5, -7, 11))
    volume = read_image(tmp_path / "ramp", interpolate_missing_slices=flag)
    assert any(said in n and f"{count} slices" in n for n in volume.notes)
    assert volume.shape == (count, 24, 20)
    assert volume.spacing[2] == pytest.approx(offsets[-1] / (count - 1))
    k, j, i = np.mgrid[0:count, 0:24, 0:20]
    points = volume.index_to_physical(np.stack([i, j, k], -1).reshape(-1, 3)).reshape(count, 24, 20, 3)
    assert np.abs(volume.array - ramp(points)).max() <= 1.0  # int16 rounding of input and output


def test_gantry_tilt_is_corrected_and_said(tmp_path):
    ramp_series(tmp_path, gantry_tilt=12.0, origin=(0, 0, 0))
    volume = read_image(tmp_path / "ramp")
    note = " ".join(volume.notes)
    assert "gantry tilt" in note and "12.0°" in note
    normal = np.cross(*np.split(np.asarray(slice_planes(1, gantry_tilt=12.0)[0][1]), 2))
    np.testing.assert_allclose(volume.direction[:, 2], normal, atol=1e-6)  # stacks along the true normal
    assert volume.spacing[2] == pytest.approx(2.0 * math.cos(math.radians(12)), abs=1e-4)
    k, j, i = np.mgrid[0 : volume.shape[0], 0:24, 0:20]
    points = volume.index_to_physical(np.stack([i, j, k], -1).reshape(-1, 3)).reshape((*volume.shape, 3))
    inside = slice(4, -4)  # rows near the edges are shifted out of the field of view
    error = np.abs(volume.array[:, inside] - ramp(points[:, inside]))
    assert error.max() <= 1.0


def test_two_series_in_one_folder_and_one_series_across_subfolders(tmp_path, ct_hu):
    write_dicom_series(ct_hu, tmp_path / "both", series_number=1, prefix="A")
    write_dicom_series(ct_hu[:, :16], tmp_path / "both", series_number=2, prefix="B")
    files = write_dicom_series(ct_hu, tmp_path / "split" / "part1", series_uid="1.2.3.4.5", series_number=3)
    for path in files[6:]:
        (tmp_path / "split" / "part2").mkdir(exist_ok=True)
        path.rename(tmp_path / "split" / "part2" / path.name)
    scan = scan_dicom_folder(tmp_path)
    sizes = sorted((s.meta["SeriesNumber"], len(s.slices)) for s in scan.series)
    assert sizes == [(1, 12), (2, 12), (3, 12)]
    with pytest.raises(ValueError, match="holds 2 series"):
        read_image(tmp_path / "both")
    np.testing.assert_array_equal(read_image(tmp_path / "split").array, ct_hu)


def test_localizer_is_skipped_with_a_note(tmp_path, ct_hu):
    write_dicom_series(ct_hu, tmp_path / "s", localizer=True)
    volume = read_image(tmp_path / "s")
    assert volume.shape == ct_hu.shape
    assert any("localizer" in note for note in volume.notes)


def test_mixed_sizes_in_one_series_is_an_error_that_says_what_to_do(tmp_path, ct_hu):
    write_dicom_series(ct_hu, tmp_path / "s", series_uid="1.2.3.9", prefix="A")
    write_dicom_series(ct_hu[:2, :16], tmp_path / "s", series_uid="1.2.3.9", prefix="B", origin=(0, 0, 100))
    with pytest.raises(ValueError, match=r"mixed image sizes.*32×32 \(12 slices\).*32×16 \(2 slices\).*move"):
        read_image(tmp_path / "s")


def test_fractional_rescale_gives_float_and_integer_rescale_keeps_integers(tmp_path, ct_hu):
    import pydicom

    files = write_dicom_series(ct_hu, tmp_path / "s")
    assert read_image(tmp_path / "s").array.dtype == np.int16
    for path in files:
        ds = pydicom.dcmread(path)
        ds.RescaleSlope = "0.5"
        ds.save_as(path)
    volume = read_image(tmp_path / "s")
    assert volume.array.dtype == np.float32
    np.testing.assert_allclose(volume.array, (ct_hu.astype(np.float32) + 1024) * 0.5 - 1024)


def test_bits_stored_below_bits_allocated_reads_like_pydicom(tmp_path):
    import pydicom

    hu = np.random.default_rng(1).integers(-3000, 1000, (3, 16, 16)).astype(np.int16)  # stored -1976..2023
    files = write_dicom_series(hu, tmp_path / "s")
    for path in files:
        ds = pydicom.dcmread(path)
        stored = np.frombuffer(ds.PixelData, np.int16)
        noisy = (
            stored.astype(np.uint16) & 0x0FFF
        ) | 0xA000  # 12-bit values with junk in the unused high bits
        ds.BitsStored, ds.HighBit, ds.PixelData = 12, 11, noisy.astype(np.uint16).tobytes()
        ds.save_as(path)
    volume = read_image(tmp_path / "s")
    expected = np.stack([pydicom.dcmread(p).pixel_array for p in files]).astype(np.int32) - 1024
    np.testing.assert_array_equal(volume.array, expected)
    np.testing.assert_array_equal(volume.array, hu)
