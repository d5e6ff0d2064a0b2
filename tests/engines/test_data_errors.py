"""Bad data met during training stops it naming the file, the cause and the fix (never MONAI's wrapper)."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np

from clara_tlt.io import read_image, write_image
from tests.engines.test_dry_run import copy_data
from tests.test_cli import invoke


def train(mmar: Path) -> tuple[int, str]:
    return invoke("train", "-m", str(mmar), "-c", "config/config_train.json")


def test_a_nan_image_stops_training_with_the_readers_message(unet_mmar: Path, tmp_path: Path) -> None:
    datalist = copy_data(unet_mmar, tmp_path)
    entries = json.loads(datalist.read_text())
    volume = read_image(datalist.parent / entries["training"][1]["image"])
    volume.array = volume.array.astype(np.float32)
    volume.array[3, 4, 5] = np.nan
    nan_image = write_image(volume, datalist.parent / "nan.mha")  # its voxels are not scanned before training
    entries["training"][1]["image"] = "nan.mha"
    datalist.write_text(json.dumps(entries))
    code, output = train(unet_mmar)
    assert code == 1, output
    assert f"{nan_image}: 1 voxel(s) are NaN or infinite; fix the file" in output
    assert "applying transform" not in output


def test_a_label_value_without_a_class_stops_training_naming_file_and_value(
    unet_mmar: Path, tmp_path: Path
) -> None:
    datalist = copy_data(unet_mmar, tmp_path)
    label_file = datalist.parent / json.loads(datalist.read_text())["training"][0]["label"]
    label = nib.load(label_file)
    array = np.asarray(label.dataobj).copy()
    array[array > 0] = 7
    nib.save(nib.Nifti1Image(array, label.affine, label.header), label_file)
    code, output = train(unet_mmar)
    assert code == 1, output
    assert f"{label_file}: label value(s) 7 outside the 2 classes the network tells apart" in output
