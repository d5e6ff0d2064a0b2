"""write_image / read_image round trips with geometry, and resampling against SimpleITK."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from clara_tlt.io import Volume, array_suffix, read_array, read_image, resample_volume, write_image
from clara_tlt.io.resample import target_grid


@pytest.fixture
def oblique_volume(ct_hu) -> Volume:
    angle = 0.4
    direction = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    return Volume(ct_hu, spacing=(0.7, 0.8, 2.5), origin=(-12.5, 30.0, 7.25), direction=direction)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz", ".mha", ".mhd", ".nrrd"])
def test_round_trip_keeps_voxels_and_geometry(tmp_path, oblique_volume, suffix):
    path = write_image(oblique_volume, tmp_path / f"ct{suffix}")
    back = read_image(path)
    np.testing.assert_array_equal(back.array, oblique_volume.array)
    assert back.array.dtype == np.int16
    np.testing.assert_allclose(back.spacing, oblique_volume.spacing, atol=1e-5)
    np.testing.assert_allclose(back.origin, oblique_volume.origin, atol=1e-4)
    np.testing.assert_allclose(back.direction, oblique_volume.direction, atol=1e-5)
    assert [p.name for p in tmp_path.iterdir() if "incomplete" in p.name] == []  # atomic: no leftovers


def test_nifti_affine_is_what_nibabel_reads(tmp_path, oblique_volume):
    write_image(oblique_volume, tmp_path / "ct.nii.gz")
    np.testing.assert_allclose(nib.load(tmp_path / "ct.nii.gz").affine, oblique_volume.affine, atol=1e-4)


def test_from_affine_rebuilds_the_geometry_nibabel_reads(tmp_path, oblique_volume):
    write_image(oblique_volume, tmp_path / "ct.nii.gz")
    image = nib.load(tmp_path / "ct.nii.gz")
    volume = Volume.from_affine(np.asarray(image.dataobj).transpose(2, 1, 0), image.affine)
    np.testing.assert_array_equal(volume.array, oblique_volume.array)
    np.testing.assert_allclose(volume.spacing, oblique_volume.spacing, atol=1e-5)
    np.testing.assert_allclose(volume.origin, oblique_volume.origin, atol=1e-4)
    np.testing.assert_allclose(volume.direction, oblique_volume.direction, atol=1e-5)
    with pytest.raises(ValueError, match="zero length"):
        Volume.from_affine(oblique_volume.array, np.diag([1.0, 0.0, 1.0, 1.0]))


def test_unknown_suffix_suggests_the_right_one(tmp_path, oblique_volume):
    with pytest.raises(
        ValueError, match=r"did you mean '\.nii'\? Accepted: \.nii\.gz, \.nii, \.mha, \.mhd, \.nrrd$"
    ):
        write_image(oblique_volume, tmp_path / "ct.nik")


def test_unknown_suffix_on_reading_lists_pictures_and_numpy_files_too(tmp_path):
    (tmp_path / "xray.pgn").write_bytes(b"not an image")
    accepted = r"Accepted: \.nii\.gz, .*\.dcm, or a DICOM folder; without geometry, .*\.png, .*\.npy, \.npz$"
    for read in (read_image, read_array):
        with pytest.raises(
            ValueError, match=rf"xray\.pgn: unknown image format; did you mean '\.png'\? {accepted}"
        ):
            read(tmp_path / "xray.pgn")
    np.save(tmp_path / "scores.npy", np.zeros((4, 4)))
    with pytest.raises(
        ValueError, match=r"scores\.npy: a picture or NumPy file has no geometry .* read_array"
    ):
        read_image(tmp_path / "scores.npy")
    assert read_array(tmp_path / "scores.npy")[0].shape == (4, 4)
    assert [array_suffix(name) for name in ("a.NII.GZ", "b.npz", "c.tiff", "d.txt")] == [
        ".nii.gz",
        ".npz",
        ".tiff",
        "",
    ]


def sitk_reference(volume: Volume, spacing, interpolator) -> np.ndarray:
    size, origin = target_grid(volume, spacing)
    image = sitk.Cast(volume.to_sitk(), sitk.sitkFloat64)
    out = sitk.Resample(
        image,
        size,
        sitk.Transform(),
        interpolator,
        origin,
        spacing,
        image.GetDirection(),
        0.0,
        sitk.sitkFloat64,
    )
    return sitk.GetArrayFromImage(out)


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (0.5, 1.2, 1.7)])
def test_linear_resample_matches_simpleitk_and_keeps_extent(oblique_volume, spacing):
    out = resample_volume(oblique_volume, spacing)
    assert out.spacing == spacing
    np.testing.assert_allclose(out.direction, oblique_volume.direction)
    extent_in = np.asarray(oblique_volume.size) * oblique_volume.spacing
    extent_out = np.asarray(out.size) * spacing
    assert np.all(np.abs(extent_out - extent_in) <= np.asarray(spacing) / 2 + 1e-9)
    corner_in = np.asarray(oblique_volume.origin) - oblique_volume.direction @ (
        np.asarray(oblique_volume.spacing) / 2
    )
    corner_out = np.asarray(out.origin) - out.direction @ (np.asarray(spacing) / 2)
    np.testing.assert_allclose(corner_out, corner_in, atol=1e-9)
    reference = sitk_reference(oblique_volume, spacing, sitk.sitkLinear)
    value_range = float(reference.max() - reference.min())
    assert np.abs(out.array - reference).max() / value_range < 1e-3
    assert out.array.dtype == np.int16


def test_label_resample_is_nearest_with_no_new_values(ct_hu):
    labels = Volume(
        (ct_hu > 500).astype(np.uint8) * 2 + (ct_hu > 0).astype(np.uint8), spacing=(0.7, 0.8, 2.5)
    )
    out = resample_volume(labels, (1.0, 1.0, 1.0), label=True)
    assert out.array.dtype == np.uint8
    assert set(np.unique(out.array)) <= set(np.unique(labels.array))
    np.testing.assert_array_equal(
        out.array, sitk_reference(labels, (1.0, 1.0, 1.0), sitk.sitkNearestNeighbor)
    )


def test_multi_member_nifti_gz_reads_in_nibabel_and_simpleitk(tmp_path, oblique_volume, monkeypatch):
    import clara_tlt.io.image as image_module

    monkeypatch.setattr(image_module, "GZIP_CHUNK_BYTES", 1000)
    monkeypatch.setattr(sitk.ProcessObject, "GetGlobalDefaultNumberOfThreads", staticmethod(lambda: 7))
    path = write_image(oblique_volume, tmp_path / "ct.nii.gz")
    assert path.read_bytes().count(b"\x1f\x8b\x08") >= 7  # several gzip members
    expected = oblique_volume.array.transpose(2, 1, 0)  # nibabel indexes (i, j, k)
    np.testing.assert_array_equal(np.asarray(nib.load(path).dataobj), expected)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(path))), oblique_volume.array)
