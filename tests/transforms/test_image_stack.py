"""LoadNifti and WriteNiftyResults go through `clara_tlt.io`: every format gives the same array and RAS affine."""

from __future__ import annotations

import math
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
import torch

from clara_tlt.errors import ImageReadError
from clara_tlt.factory.registry import build
from clara_tlt.io import Volume, write_image
from clara_tlt.io.arrays import read_array, write_array
from clara_tlt.synthetic.dicom import write_dicom_series

SPACING = (0.8, 0.7, 2.5)
ORIGIN = (10.0, -20.0, 30.0)  # LPS mm
ROW, COLUMN = (math.cos(0.3), math.sin(0.3), 0.0), (-math.sin(0.3), math.cos(0.3), 0.0)  # oblique in-plane


def load(path: Path | str, **args: object) -> torch.Tensor:
    spec = {"name": "LoadNifti", "args": {"fields": "image", **args}}
    return build(spec, "transform", file="test.json", key_path="pre_transforms[0]")({"image": str(path)})[
        "image"
    ]


@pytest.fixture(scope="module")
def one_volume(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One oblique 6×20×16 CT volume written as NIfTI, MetaImage, NRRD and a DICOM series folder."""
    folder = tmp_path_factory.mktemp("stack")
    hu = np.random.default_rng(3).integers(-1000, 1000, size=(6, 20, 16)).astype(np.int16)
    direction = np.column_stack([ROW, COLUMN, np.cross(ROW, COLUMN)])
    volume = Volume(hu, spacing=SPACING, origin=ORIGIN, direction=direction)
    files = {suffix: write_image(volume, folder / f"ct{suffix}") for suffix in (".nii.gz", ".mha", ".nrrd")}
    write_dicom_series(hu, folder / "dicom", spacing=SPACING, origin=ORIGIN, orientation=(*ROW, *COLUMN))
    return {**files, "dicom": folder / "dicom"}


@pytest.mark.parametrize("form", [".mha", ".nrrd", "dicom"])
def test_load_nifti_reads_metaimage_nrrd_and_dicom_folders_like_the_nifti(
    one_volume: dict[str, Path], form: str
) -> None:
    nifti, other = load(one_volume[".nii.gz"]), load(one_volume[form])
    assert other.shape == nifti.shape == (16, 20, 6)  # (x, y, z)
    assert torch.equal(other.as_tensor().float(), nifti.as_tensor().float())
    assert torch.allclose(other.affine, nifti.affine, atol=1e-5)
    assert other.meta["channel_dim"] == "no_channel"


def test_nifti_array_and_affine_are_nibabels(one_volume: dict[str, Path]) -> None:
    image = nib.load(one_volume[".nii.gz"])
    loaded = load(one_volume[".nii.gz"])
    assert np.array_equal(loaded.numpy(), np.asanyarray(image.dataobj))
    assert np.allclose(loaded.affine.numpy(), image.affine, atol=1e-5)


def test_as_closest_canonical_reorients_any_format_like_nibabel(one_volume: dict[str, Path]) -> None:
    canonical = nib.as_closest_canonical(nib.load(one_volume[".nii.gz"]))  # LPS data: x and y flip
    for form in (".nii.gz", ".mha"):
        loaded = load(one_volume[form], as_closest_canonical="true")
        assert np.array_equal(loaded.numpy(), np.asanyarray(canonical.dataobj))
        assert np.allclose(loaded.affine.numpy(), canonical.affine, atol=1e-5)


def test_a_2d_metaimage_stays_2d(tmp_path: Path) -> None:
    picture = sitk.GetImageFromArray(np.arange(12, dtype=np.float32).reshape(3, 4))  # rows, columns
    picture.SetSpacing((0.5, 2.0))
    sitk.WriteImage(picture, str(tmp_path / "a.mha"))
    loaded = load(tmp_path / "a.mha")
    assert loaded.shape == (4, 3) and float(loaded[1, 2]) == 9.0  # (x, y)
    assert torch.allclose(loaded.affine, torch.diag(torch.tensor([-0.5, -2.0, 1.0], dtype=torch.float64)))


def test_write_array_is_the_inverse_of_read_array(one_volume: dict[str, Path], tmp_path: Path) -> None:
    array, affine = read_array(one_volume[".mha"])
    write_array(array, affine, tmp_path / "again.nii.gz")
    again, again_affine = read_array(tmp_path / "again.nii.gz")
    assert np.array_equal(again, array) and np.allclose(again_affine, affine, atol=1e-5)
    channels = np.random.default_rng(0).random((2, 4, 4, 3)).astype(np.float32)  # (x, y, z, C)
    write_array(channels, affine, tmp_path / "four.nii.gz")
    again, _ = read_array(tmp_path / "four.nii.gz")
    assert np.array_equal(again, channels)  # a vector image, read back channels last
    with pytest.raises(ValueError, match=r"a 3-D volume \(x, y, z\) or its channels"):
        write_array(np.zeros((2, 4, 4, 3, 2)), affine, tmp_path / "five.nii.gz")


def test_unreadable_picture_and_missing_file_say_which(tmp_path: Path) -> None:
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 not really")
    np.save(tmp_path / "whole.npy", np.zeros((8, 8)))
    (tmp_path / "cut.npy").write_bytes((tmp_path / "whole.npy").read_bytes()[:100])
    np.savez(tmp_path / "empty.npz")
    for name, reason in [
        ("broken.png", "cannot identify image file"),
        ("broken.npz", "not a zip file"),
        ("cut.npy", "EOF"),
        ("empty.npz", "holds no array"),
    ]:
        with pytest.raises(ImageReadError, match=rf"{name}: cannot read \(.*{reason}") as caught:
            read_array(tmp_path / name)
        assert caught.value.exit_code == 1 and isinstance(caught.value, ValueError)
    with pytest.raises(FileNotFoundError, match=r"gone\.npy"):
        load(tmp_path / "gone.npy")


@pytest.mark.filterwarnings("ignore:NvImgCodecPydicomReader")  # LoadImage sets up every reader it knows
def test_a_4d_nifti_loads_as_channels_like_monai(tmp_path: Path) -> None:
    from monai.transforms import EnsureChannelFirst, LoadImage

    channels = np.random.default_rng(2).random((6, 5, 4, 3)).astype(np.float32)  # (x, y, z, C), MSD BraTS
    affine = np.array([[-1.5, 0, 0, 10.0], [0, 1.5, 0, -5.0], [0, 0, 2.0, 3.0], [0, 0, 0, 1]])
    nib.save(nib.Nifti1Image(channels, affine), tmp_path / "brats.nii.gz")
    loaded = load(tmp_path / "brats.nii.gz")
    assert loaded.shape == (6, 5, 4, 3) and loaded.meta["channel_dim"] == -1  # channels last, as listed files
    first = build(
        {"name": "ConvertToChannelsFirst", "args": {"fields": "image"}}, "transform", file="t", key_path="k"
    )
    ours = first({"image": loaded})["image"]
    theirs = EnsureChannelFirst()(
        LoadImage(reader="NibabelReader", image_only=True)(str(tmp_path / "brats.nii.gz"))
    )
    assert ours.shape == theirs.shape == (3, 6, 5, 4)
    assert torch.equal(ours.as_tensor(), theirs.as_tensor())
    assert torch.allclose(ours.affine, theirs.affine.double())
