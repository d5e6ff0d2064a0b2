"""`check_entries`: every file a datalist names is read whole, and an image and its label lie on one grid,
for every input form; all problems are reported at once (exit 4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clara_tlt.data.checks import check_entries
from clara_tlt.errors import NoInputError
from clara_tlt.io import Volume, write_image
from clara_tlt.synthetic.dicom import write_dicom_series

SPACING = (0.8, 0.8, 2.0)
ORIGIN = (5.0, -3.0, 12.0)


def image(
    spacing: tuple[float, ...] = SPACING, origin: tuple[float, ...] = ORIGIN, dtype: str = "int16"
) -> Volume:
    array = np.random.default_rng(0).integers(0, 3, (6, 16, 20)).astype(dtype)
    return Volume(array, spacing, origin)


def check(entries: list[dict[str, str]]) -> None:
    check_entries(
        entries,
        ["image", "label"],
        datalist="datalist.json",
        key="training",
        config_file="c.json",
        loader="l",
    )


def image_as(form: str, folder: Path, volume: Volume) -> Path:
    """`volume` written in `form`: a file suffix, or `dicom` for a series folder."""
    if form != "dicom":
        return write_image(volume, folder / f"image{form}")
    write_dicom_series(volume.array, folder / "series", spacing=volume.spacing, origin=volume.origin)
    return folder / "series"


@pytest.mark.parametrize("form", [".nii.gz", ".mha", ".mhd", ".nrrd", "dicom"])
def test_a_label_on_another_grid_is_refused_naming_both_files_and_grids(tmp_path: Path, form: str) -> None:
    path = image_as(form, tmp_path, image())
    same = write_image(image(dtype="uint8"), tmp_path / "same.nii.gz")
    shifted = write_image(image(origin=(5.0, -3.0, 13.0), dtype="uint8"), tmp_path / "shifted.nii.gz")
    coarse = write_image(image(spacing=(0.8, 0.8, 2.5), dtype="uint8"), tmp_path / "coarse.nii.gz")
    check([{"image": str(path), "label": str(same)}])
    with pytest.raises(NoInputError) as caught:
        check([{"image": str(path), "label": str(shifted)}, {"image": str(path), "label": str(coarse)}])
    message = str(caught.value)
    assert "2 case(s) whose image and label lie on different grids" in message
    assert (
        f"training[0]: origin differs:\n    image {path}: 20×16×6 voxels of 0.8×0.8×2 mm, origin (5, -3, 12)"
        in message
    )
    assert f"label {shifted}: 20×16×6 voxels of 0.8×0.8×2 mm, origin (5, -3, 13)" in message
    assert (
        "training[1]: spacing differs" in message
        and f"label {coarse}: 20×16×6 voxels of 0.8×0.8×2.5 mm" in message
    )


def test_every_unreadable_file_is_listed_with_every_grid_mismatch(tmp_path: Path) -> None:
    entries = []
    for index in range(4):
        path = write_image(image(), tmp_path / f"image{index}.nii.gz")
        label = write_image(image(dtype="uint8"), tmp_path / f"label{index}.mha")
        entries.append({"image": str(path), "label": str(label)})
    for name in ("image1.nii.gz", "label2.mha", "image3.nii.gz"):
        data = (tmp_path / name).read_bytes()
        (tmp_path / name).write_bytes(data[: len(data) // 2])
    entries[0]["label"] = str(
        write_image(image(spacing=(1.0, 0.8, 2.0), dtype="uint8"), tmp_path / "far.mha")
    )
    with pytest.raises(NoInputError) as caught:
        check(entries)
    message = str(caught.value)
    assert "3 file(s) cannot be read whole" in message
    for index, field, name in (
        (1, "image", "image1.nii.gz"),
        (2, "label", "label2.mha"),
        (3, "image", "image3.nii.gz"),
    ):
        assert f"training[{index}].{field}: {tmp_path / name}: " in message
    assert "1 case(s) whose image and label lie on different grids" in message and "far.mha" in message
