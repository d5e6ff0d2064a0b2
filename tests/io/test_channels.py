"""4-D NIfTI (MSD BraTS: `(x, y, z, C)`): read_channels gives one volume per channel on the file's grid;
read_image, which promises one 3-D volume, refuses it and says what to do."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from clara_tlt.io import ImageReadError, read_array, read_channels, read_image

AFFINE = np.array([[-1.5, 0, 0, 10.0], [0, 1.5, 0, -5.0], [0, 0, 2.0, 3.0], [0, 0, 0, 1]])


@pytest.fixture
def channels() -> np.ndarray:
    """Four channels of 6 × 5 × 4 float voxels, nibabel's `(x, y, z, C)`."""
    return np.random.default_rng(0).random((6, 5, 4, 4)).astype(np.float32)


@pytest.mark.parametrize("scaled", [False, True], ids=["plain", "scaled"])
def test_read_channels_gives_one_volume_per_channel_on_the_files_grid(
    tmp_path: Path, channels: np.ndarray, scaled: bool
) -> None:
    image = nib.Nifti1Image(channels, AFFINE)
    if scaled:  # scl_slope/scl_inter: ITK's full reader, not ours
        image.header.set_slope_inter(2.0, 1.0)
    nib.save(image, tmp_path / "brats.nii.gz")
    expected = channels * 2 + 1 if scaled else channels
    volumes = read_channels(tmp_path / "brats.nii.gz")
    assert len(volumes) == 4
    for index, volume in enumerate(volumes):
        np.testing.assert_allclose(volume.array, expected[..., index].T, rtol=1e-6)
        np.testing.assert_allclose(volume.affine, AFFINE)
    array, affine = read_array(tmp_path / "brats.nii.gz")  # MONAI's LoadImage layout: channels last
    np.testing.assert_allclose(array, expected, rtol=1e-6)
    np.testing.assert_allclose(affine, AFFINE)


def test_read_image_refuses_several_channels_and_says_what_to_do(
    tmp_path: Path, channels: np.ndarray
) -> None:
    nib.save(nib.Nifti1Image(channels, AFFINE), tmp_path / "brats.nii.gz")
    with pytest.raises(
        ImageReadError,
        match=r"brats\.nii\.gz: 4 channels of 6 × 5 × 4 voxels .* where one 3-D volume is expected .* split it "
        r"into one file per channel, or read it with read_channels",
    ):
        read_image(tmp_path / "brats.nii.gz")
    nib.save(nib.Nifti1Image(channels[..., 0], AFFINE), tmp_path / "t1.nii.gz")
    assert len(read_channels(tmp_path / "t1.nii.gz")) == 1


@pytest.mark.parametrize("scaled", [False, True], ids=["plain", "scaled"])
def test_nan_in_one_channel_is_refused_or_replaced_there_only(
    tmp_path: Path, channels: np.ndarray, scaled: bool
) -> None:
    channels[1, 2, 3, 2] = np.nan
    image = nib.Nifti1Image(channels, AFFINE)
    if scaled:
        image.header.set_slope_inter(2.0, 1.0)
    nib.save(image, tmp_path / "brats.nii.gz")
    with pytest.raises(ImageReadError, match=r"1 voxel\(s\) are NaN or infinite"):
        read_channels(tmp_path / "brats.nii.gz")
    volumes = read_channels(tmp_path / "brats.nii.gz", replace_nonfinite=-1.0)
    assert [v.notes for v in volumes] == [
        [],
        [],
        ["1 NaN/infinite voxel(s) replaced by -1 (replace_nonfinite)"],
        [],
    ]
    assert volumes[2].array[3, 2, 1] == -1.0 and all(np.isfinite(v.array).all() for v in volumes)


def test_a_4d_file_that_ends_early_is_refused(tmp_path: Path, channels: np.ndarray) -> None:
    nib.save(nib.Nifti1Image(channels, AFFINE), tmp_path / "brats.nii")
    cut = tmp_path / "brats.nii"
    cut.write_bytes(cut.read_bytes()[:-100])
    with pytest.raises(ImageReadError, match=r"brats\.nii: the file ends early"):
        read_channels(cut)
