"""A damaged image or a label value the network has no class for, met while the pipeline runs: the error
names the file and the cause (the reader's ImageReadError, not MONAI's `applying transform` wrapper)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from tests.data.test_pipelines import make, seed_section, spleen_data  # noqa: F401  (the fixture)

from clara_tlt.errors import ImageReadError
from clara_tlt.io import read_image, write_image
from clara_tlt.transforms.layout import SplitBasedOnLabel


def with_entry(root: Path, tmp_path: Path, index: int, **fields: str) -> Path:
    """A copy of `root`'s datalist whose training entry `index` has `fields`; returns its folder (`root`)."""
    datalist = json.loads((root / "datalist.json").read_text())
    datalist["training"][index].update(fields)
    (tmp_path / "datalist.json").write_text(json.dumps(datalist))
    return tmp_path


@pytest.mark.parametrize("prefetch_size", [0, 2])
def test_a_nan_image_met_in_training_raises_the_readers_error(
    spleen_data: Path,  # noqa: F811
    tmp_path: Path,
    prefetch_size: int,
) -> None:
    volume = read_image(spleen_data / "img1.nii.gz")
    volume.array[2, 3, 4] = np.nan
    nan_image = write_image(volume, tmp_path / "nan.mha")  # a MetaImage's voxels are not scanned before
    folder = with_entry(spleen_data, tmp_path, 1, image=str(nan_image))
    pipeline = make(
        seed_section("config_train_spleen.json", "train"),
        spleen_data,
        data_list_file_path=str(folder / "datalist.json"),
        prefetch_size=prefetch_size,
    )
    with pytest.raises(ImageReadError, match=rf"{nan_image}: 1 voxel\(s\) are NaN or infinite; fix the file"):
        list(pipeline)


def test_a_label_value_outside_the_networks_classes_stops_training_naming_file_and_value(
    spleen_data: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    label = np.asarray(nib.load(spleen_data / "lab2.nii.gz").dataobj).copy()
    label[label > 0] = 7
    nib.save(nib.Nifti1Image(label, np.eye(4)), tmp_path / "lab7.nii.gz")
    folder = with_entry(spleen_data, tmp_path, 2, label=str(tmp_path / "lab7.nii.gz"))

    def pipeline(classes: int) -> Any:
        built = make(
            seed_section("config_train_spleen.json", "train"),
            spleen_data,
            data_list_file_path=str(folder / "datalist.json"),
        )
        built.label_classes = classes
        return built

    assert len(list(pipeline(8))) == 4
    with pytest.raises(ImageReadError, match=r"lab7.nii.gz: label value\(s\) 7 outside the 2 classes"):
        list(pipeline(2))


def test_split_based_on_label_warns_of_values_without_a_class(caplog: pytest.LogCaptureFixture) -> None:
    label = MetaTensor(
        torch.tensor([[[0, 1], [7, 1]]]), meta={"filename_or_obj": "/data/case_002_seg.nii.gz"}
    )
    split = SplitBasedOnLabel(fields="label", label_names=["background", "spleen"])
    with caplog.at_level(logging.WARNING):
        split({"label": label})
    assert "/data/case_002_seg.nii.gz: value(s) 7 outside the 2 classes of label_names" in caplog.text
    caplog.clear()
    split({"label": MetaTensor(torch.tensor([[[0, 1]]]))})
    assert not caplog.records
