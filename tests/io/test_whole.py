"""`check_whole`: every image form the datalist can name is checked whole from headers and byte counts, and
its grid is the grid the reader gives."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from clara_tlt.errors import ImageReadError
from clara_tlt.io import Volume, read_image, write_image
from clara_tlt.io.grid import Grid
from clara_tlt.io.whole import check_whole
from clara_tlt.synthetic.dicom import write_dicom_series
from clara_tlt.written import nifti_layout
from tests.io.conftest import damage

ITK_FORMATS = [("ct.nii.gz", True), ("ct.nii", False), ("ct.mha", False), ("ct.mha", True), ("ct.nrrd", True),
               ("ct.nrrd", False), ("ct.mhd", False), ("ct.mhd", True)]  # fmt: skip


def volume(dtype: str = "int16") -> Volume:
    array = np.random.default_rng(0).integers(-100, 100, (12, 20, 24)).astype(dtype)
    direction = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
    return Volume(array, (0.8, 0.9, 2.5), (-10.0, 4.0, 30.0), direction)


def grid_of(image: Volume) -> Grid:
    return Grid(image.size, image.spacing, image.origin, tuple(image.direction.ravel()))


def data_file(path: Path) -> Path:
    """The file holding the voxels (the `.raw`/`.zraw` beside a `.mhd`)."""
    if path.suffix != ".mhd":
        return path
    return next(p for p in path.parent.iterdir() if p.suffix in (".raw", ".zraw"))


@pytest.mark.parametrize(("name", "compress"), ITK_FORMATS)
def test_a_whole_file_gives_the_readers_grid_and_a_cut_one_is_refused(
    tmp_path: Path, name: str, compress: bool
) -> None:
    path = write_image(volume(), tmp_path / name, compress=compress)
    grid = check_whole(path)
    assert grid is not None and grid.mismatch(grid_of(read_image(path))) is None
    target = data_file(path)
    data = target.read_bytes()
    target.write_bytes(data[: len(data) - 700])
    with pytest.raises(ImageReadError, match=r"ends early|damaged") as caught:
        check_whole(path)
    assert str(target) in str(caught.value)


def test_a_metaimage_without_its_data_file_is_refused(tmp_path: Path) -> None:
    path = write_image(volume(), tmp_path / "ct.mhd", compress=False)
    data_file(path).unlink()
    with pytest.raises(ImageReadError, match=r"ct\.mhd: (its data file .* does not exist|cannot read)"):
        check_whole(path)


def test_nan_voxels_in_a_nifti_are_refused_as_the_reader_refuses_them(tmp_path: Path) -> None:
    image = volume("float32")
    image.array[3, 4, 5] = np.nan
    path = write_image(image, tmp_path / "ct.nii.gz")
    with pytest.raises(ImageReadError, match="1 voxel\\(s\\) are NaN"):
        check_whole(path)


def dicom_series(folder: Path, **options: object) -> list[Path]:
    array = np.random.default_rng(0).integers(-100, 100, (6, 16, 20)).astype(np.int16)
    return write_dicom_series(array, folder, spacing=(0.7, 0.8, 2.0), origin=(5.0, -3.0, 12.0), **options)  # type: ignore[arg-type]


def test_a_dicom_series_gives_the_readers_grid_even_when_regularised(tmp_path: Path) -> None:
    dicom_series(tmp_path / "even")
    dicom_series(tmp_path / "uneven", slice_offsets=[0.0, 2.0, 4.0, 6.5, 8.5, 10.5])
    for folder in (tmp_path / "even", tmp_path / "uneven"):
        grid = check_whole(folder)
        assert grid is not None and grid.mismatch(grid_of(read_image(folder))) is None


@pytest.mark.parametrize("how", ["pixel data cut short", "header cut short", "zero bytes"])
def test_a_dicom_series_with_a_damaged_slice_is_refused_naming_it(tmp_path: Path, how: str) -> None:
    files = dicom_series(tmp_path / "ct")
    damage(files[2], how)
    with pytest.raises(ImageReadError) as caught:
        check_whole(tmp_path / "ct")
    assert str(files[2]) in str(caught.value)


def test_a_dicom_series_with_a_missing_slice_is_refused(tmp_path: Path) -> None:
    files = dicom_series(tmp_path / "ct")
    by_height = sorted(files, key=lambda p: read_image(p).origin[2])
    by_height[3].unlink()
    with pytest.raises(ImageReadError, match="missing slices"):
        check_whole(tmp_path / "ct")


def test_grids_match_within_the_documented_tolerances_only() -> None:
    base = Grid((4, 4, 4), (1.0, 1.0, 2.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    near = Grid((4, 4, 4), (1.0005, 1.0, 2.0), (0.0005, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1.00005))
    assert base.mismatch(near) is None
    assert base.mismatch(Grid((4, 4, 5), base.spacing, base.origin, base.direction)) == "size differs"
    assert base.mismatch(Grid(base.size, (1.0, 1.0, 2.01), base.origin, base.direction)) == "spacing differs"
    assert base.mismatch(Grid(base.size, base.spacing, (0, 0, 0.01), base.direction)) == "origin differs"
    tilted = (1, 0, 0, 0, 0.9998, 0.02, 0, -0.02, 0.9998)
    assert base.mismatch(Grid(base.size, base.spacing, base.origin, tilted)) == "direction differs"


@pytest.mark.parametrize("kind", ["nifti1", "nifti2", "big-endian", "scaled", "extension"])
def test_the_fast_nifti_header_read_agrees_with_nibabel(tmp_path: Path, kind: str) -> None:
    array = np.arange(60, dtype=">i2" if kind == "big-endian" else np.int16).reshape(3, 4, 5)
    affine = np.array([[0, -0.8, 0, 10], [0.9, 0, 0, -4], [0, 0, 2.5, 7], [0, 0, 0, 1]])
    image = (nib.Nifti2Image if kind == "nifti2" else nib.Nifti1Image)(array, affine)
    if kind == "scaled":
        image.header.set_slope_inter(2.0, 1.0)
    if kind == "extension":
        image.header.extensions.append(nib.nifti1.Nifti1Extension("comment", b"made by a test"))
    path = tmp_path / "x.nii.gz"
    nib.save(image, path)
    layout, loaded = nifti_layout(path), nib.load(path)
    assert layout is not None
    proxy = loaded.dataobj
    assert (layout.offset, layout.shape, layout.dtype) == (proxy.offset, proxy.shape, proxy.dtype)
    assert layout.scaled == (kind == "scaled") and np.allclose(layout.affine, loaded.affine)
