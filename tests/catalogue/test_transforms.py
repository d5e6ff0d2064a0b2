"""Transform names issue 13 adds: SaveAsNifti writes what the pipeline made so far, crop by crop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from clara_tlt.errors import ConfigError
from clara_tlt.factory.registry import build
from clara_tlt.io.arrays import read_array

WHERE = {"file": "config_train.json", "key_path": "train.pre_transforms[5]"}


def test_save_as_nifti_writes_each_sample_with_its_affine_and_passes_it_on(tmp_path: Path) -> None:
    spec = {"name": "SaveAsNifti", "args": {"fields": ["image", "label"], "out_dir": str(tmp_path / "debug")}}
    save = build(spec, "transform", **WHERE)
    affine = torch.diag(torch.tensor([2.0, 2.0, 3.0, 1.0]))
    image = MetaTensor(
        torch.arange(64.0).reshape(1, 4, 4, 4), affine=affine, meta={"filename_or_obj": "/d/case_1.nii.gz"}
    )
    sample = {"image": image, "label": MetaTensor((image.as_tensor() > 30).float(), affine=affine)}
    assert save(sample) is sample
    save(sample)
    written = sorted(p.name for p in (tmp_path / "debug").iterdir())
    assert written == [
        "case_1_image_1.nii.gz",
        "case_1_image_2.nii.gz",
        "case_1_label_1.nii.gz",
        "case_1_label_2.nii.gz",
    ]
    array, read_affine = read_array(tmp_path / "debug" / "case_1_image_2.nii.gz")
    assert np.array_equal(np.squeeze(array), image[0].numpy()) and np.allclose(read_affine, affine.numpy())


def test_save_as_nifti_cannot_wait_for_a_key_press() -> None:
    spec = {"name": "SaveAsNifti", "args": {"fields": "image", "out_dir": "x", "interrupt": True}}
    with pytest.raises(ConfigError, match=r"interrupt .* cannot be honoured"):
        build(spec, "transform", **WHERE)
