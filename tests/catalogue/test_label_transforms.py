"""Clara 3.x label transforms and loaders of issue 13, each built from a config snippet and run on a tiny sample:
ThresholdValues, KeepLargestCC, the BraTS conversions, ConvertToMultiChannelBasedOnLabel, LoadJpg, LoadPng,
LoadImageMasksFromNumpy, VolumeTo4DArray and AddExtremePointsChannel's Clara 3.1 arguments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from PIL import Image

from clara_tlt.errors import ConfigError
from clara_tlt.factory.registry import build, catalogue

WHERE = {"file": "config_validation.json", "key_path": "validate.post_transforms"}
AFFINE = torch.diag(torch.tensor([2.0, 3.0, 4.0, 1.0]))


def make(name: str, **args: Any) -> Any:
    return build({"name": name, "args": args}, "transform", **WHERE)


def volume(array: torch.Tensor) -> MetaTensor:
    """A channels-first field `(C, 8, 8, 8)` with a non-identity affine."""
    return MetaTensor(array, affine=AFFINE.clone(), meta={"channel_dim": 0, "filename_or_obj": "case.nii.gz"})


def test_threshold_values_binarises_above_the_threshold_and_keeps_the_affine() -> None:
    scores = volume(torch.tensor([0.1, 0.5, 0.51, 0.9]).repeat(128).reshape(1, 8, 8, 8))
    out = make("ThresholdValues", fields="model", threshold=0.5)({"model": scores})["model"]
    assert out.dtype == torch.uint8 and out.shape == (1, 8, 8, 8)
    assert out.flatten()[:4].tolist() == [0, 0, 1, 1]  # 0.5 itself stays 0
    assert torch.equal(out.affine, AFFINE.double())
    assert out.meta["filename_or_obj"] == "case.nii.gz"


def test_keep_largest_cc_removes_the_small_component_of_each_label() -> None:
    label = torch.zeros((1, 8, 8, 8), dtype=torch.uint8)
    label[0, 0:3, 0:3, 0:3] = 1  # 27 voxels: kept
    label[0, 6, 6, 6] = 1  # 1 voxel: removed
    label[0, 5:8, 0:2, 0:2] = 2  # label 2: its one component stays
    label[0, 4, 4, 4] = 2  # ... and its stray voxel goes
    out = make("KeepLargestCC", fields="model")({"model": volume(label)})["model"]
    expected = label.clone()
    expected[0, 6, 6, 6] = expected[0, 4, 4, 4] = 0
    assert torch.equal(out.as_tensor(), expected) and out.dtype == torch.uint8
    assert torch.equal(out.affine, AFFINE.double())
    only_one = make("KeepLargestCC", fields="model", applied_labels=[2])({"model": volume(label)})["model"]
    assert int(only_one[0, 6, 6, 6]) == 1 and int(only_one[0, 4, 4, 4]) == 0


def test_keep_largest_cc_connectivity_decides_whether_corners_join() -> None:
    label = torch.zeros((1, 8, 8, 8), dtype=torch.uint8)
    label[0, 0:2, 0:2, 0:2] = 1  # 8 voxels
    label[0, 2:5, 2:5, 2] = 1  # 9 voxels touching the cube at one corner only
    faces = make("KeepLargestCC", fields="label", connectivity=1)({"label": volume(label)})["label"]
    assert int(faces.sum()) == 9 and int(faces[0, 0, 0, 0]) == 0
    corners = make("KeepLargestCC", fields="label")({"label": volume(label)})["label"]
    assert torch.equal(corners.as_tensor(), label)
    with pytest.raises(ConfigError, match="connectivity"):
        make("KeepLargestCC", fields="label", connectivity=0)


def test_keep_largest_cc_cleans_each_channel_of_a_multi_channel_mask() -> None:
    masks = torch.zeros((3, 8, 8, 8), dtype=torch.uint8)
    masks[:, 0:3, 0:3, 0:3] = 1
    masks[0, 7, 7, 7] = 1  # channel 0 (tumour core) is cleaned too
    out = make("KeepLargestCC", fields="model")({"model": volume(masks)})["model"]
    assert int(out[0, 7, 7, 7]) == 0 and out.sum(dim=(1, 2, 3)).tolist() == [27, 27, 27]


def brats_label() -> MetaTensor:
    label = torch.zeros((1, 8, 8, 8), dtype=torch.uint8)
    label[0, 0, 0, :4] = torch.tensor([0, 1, 2, 4], dtype=torch.uint8)
    return volume(label)


def test_brats_conversion_gives_tc_wt_et_channels_and_keeps_its_old_name() -> None:
    out = make("ConvertToMultiChannelBasedOnBratsClasses", fields="label")({"label": brats_label()})["label"]
    assert out.shape == (3, 8, 8, 8) and out.dtype == torch.uint8
    # voxels hold 0, 1, 2, 4: TC = 1|4, WT = 1|2|4, ET = 4
    assert out[:, 0, 0, :4].tolist() == [[0, 1, 0, 1], [0, 1, 1, 1], [0, 0, 0, 1]]
    assert int(out.sum()) == 6 and torch.equal(out.affine, AFFINE.double())
    chosen = make("BratsConvertLabels", fields="label", class_names=["ET", "WC"], dtype="float32")
    picked = chosen({"label": brats_label()})["label"]
    assert picked.dtype == torch.float32 and picked[:, 0, 0, :4].tolist() == [[0, 0, 0, 1], [0, 1, 1, 1]]
    with pytest.raises(ConfigError, match="unknown BraTS classes"):
        make("ConvertToMultiChannelBasedOnBratsClasses", fields="label", class_names=["NCR"])


def test_split_based_on_brats_classes_makes_one_field_per_class() -> None:
    out = make("SplitBasedOnBratsClasses", field="label")({"label": brats_label()})
    assert [out[f"label_{c}"][0, 0, 0, :4].tolist() for c in ("TC", "WT", "ET")] == [
        [0, 1, 0, 1],
        [0, 1, 1, 1],
        [0, 0, 0, 1],
    ]
    assert out["label_TC"].shape == (1, 8, 8, 8) and torch.equal(out["label_ET"].affine, AFFINE.double())
    prediction = volume((torch.arange(3 * 512).reshape(3, 8, 8, 8) % 3 == 0).to(torch.uint8))
    named = make("SplitBasedOnBratsClasses", field="model", label_names=["p0", "p1", "p2"])(
        {"model": prediction}
    )
    assert all(torch.equal(named[f"p{i}"][0], prediction[i]) for i in range(3))
    with pytest.raises(ConfigError, match="one field per class"):
        make("SplitBasedOnBratsClasses", field="model", label_names=["p0"])


def test_convert_to_multi_channel_based_on_label_is_a_one_hot() -> None:
    label = torch.zeros((1, 8, 8, 8), dtype=torch.uint8)
    label[0, 1, 1, 1], label[0, 2, 2, 2] = 1, 2
    out = make("ConvertToMultiChannelBasedOnLabel", fields="label", num_classes=3)({"label": volume(label)})[
        "label"
    ]
    assert out.shape == (3, 8, 8, 8) and out.dtype == torch.uint8
    assert out.sum(dim=(1, 2, 3)).tolist() == [510, 1, 1]
    assert int(out[1, 1, 1, 1]) == 1 and int(out[2, 2, 2, 2]) == 1 and int(out[0, 1, 1, 1]) == 0
    assert torch.equal(out.affine, AFFINE.double())
    with pytest.raises(ValueError, match="outside 0 … 1"):
        make("ConvertToMultiChannelBasedOnLabel", fields="label", num_classes=2)({"label": volume(label)})


def test_load_jpg_and_load_png_read_pictures_as_x_y(tmp_path: Path) -> None:
    grey = (np.arange(6 * 4).reshape(6, 4) * 10).astype(np.uint8)  # rows × cols
    Image.fromarray(grey).save(tmp_path / "mask.png")
    Image.fromarray(grey).save(tmp_path / "photo.jpg", quality=95)
    sample = make("LoadJpg", fields=["image", "label"])(
        {"image": str(tmp_path / "photo.jpg"), "label": str(tmp_path / "mask.png")}
    )
    with Image.open(tmp_path / "photo.jpg") as decoded:
        jpeg = np.asarray(decoded)
    assert sample["image"].shape == (4, 6)  # (x, y): columns first, as MONAI's PILReader
    assert np.array_equal(sample["image"].numpy(), jpeg.T)
    assert np.array_equal(
        make("LoadPng", fields="label")({"label": str(tmp_path / "mask.png")})["label"].numpy(), grey.T
    )
    rgb = np.zeros((6, 4, 3), dtype=np.uint8)
    rgb[..., 0] = 255
    Image.fromarray(rgb).save(tmp_path / "red.jpg", quality=100)
    colour = make("LoadJpg", fields="image")({"image": str(tmp_path / "red.jpg")})["image"]
    assert colour.shape == (4, 6, 3) and int(colour[..., 0].min()) > 240 and int(colour[..., 2].max()) < 15


def test_load_image_masks_from_numpy_reads_npy_with_identity_affine(tmp_path: Path) -> None:
    image = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    masks = (image > 10).astype(np.uint8)
    np.save(tmp_path / "image.npy", image)
    np.save(tmp_path / "masks.npy", masks)
    out = make("LoadImageMasksFromNumpy", fields=["image", "masks"])(
        {"image": str(tmp_path / "image.npy"), "masks": str(tmp_path / "masks.npy")}
    )
    assert np.array_equal(out["image"].numpy(), image) and np.array_equal(out["masks"].numpy(), masks)
    assert torch.equal(out["masks"].affine, torch.eye(4, dtype=out["masks"].affine.dtype))


def test_aliases_resolve_to_the_same_transform() -> None:
    aliases = {e.name: set(e.aliases) for e in catalogue("transform")}
    assert {"LoadJpg", "LoadPng", "LoadImageMasksFromNumpy"} <= aliases["LoadNifti"]
    assert {"VolumeTo4dArray", "VolumeTo4DArray"} <= aliases["ConvertToChannelsFirst"]
    assert "BratsConvertLabels" in aliases["ConvertToMultiChannelBasedOnBratsClasses"]
    loaded = {"channel_dim": "no_channel"}  # as a loader hands a volume over
    out = make("VolumeTo4DArray", fields="image")({"image": MetaTensor(torch.zeros(8, 8, 8), meta=loaded)})[
        "image"
    ]
    assert out.shape == (1, 8, 8, 8)


def extreme_sample() -> dict[str, Any]:
    label = torch.zeros((1, 8, 8, 8), dtype=torch.uint8)
    label[0, 2:6, 2:6, 2:6] = 1
    return {"image": volume(torch.rand(1, 8, 8, 8)), "label": volume(label), "clicks": [[1, 1, 1], [6, 6, 6]]}


def test_add_extreme_points_channel_takes_clara_31_points_channel_field_and_dtype() -> None:
    spec = {
        "image_field": "image",
        "label_field": "label",
        "sigma": 1,
        "rescale_min": 0.0,
        "rescale_max": 1.0,
    }
    clicked = make("AddExtremePointsChannel", points_channel_field="clicks", dtype="float16", **spec)
    out = clicked(extreme_sample())["image"]
    assert out.shape == (2, 8, 8, 8) and out.dtype == torch.float16
    heat = out[1].float()
    assert float(heat[1, 1, 1]) == pytest.approx(1.0, abs=1e-3) and float(heat[6, 6, 6]) == pytest.approx(
        1.0, abs=1e-3
    )
    assert float(heat[4, 1, 1]) < 0.5  # the heatmap is at the clicks, not at the label's extreme points
    same = make("AddExtremePointsChannel", points_field="clicks", dtype="float16", **spec)(extreme_sample())
    assert torch.equal(same["image"][1], out[1])
    with pytest.raises(ConfigError, match="points_channel_field"):
        make("AddExtremePointsChannel", points_field="clicks", points_channel_field="clicks")
    with pytest.raises(ConfigError, match="dtype"):
        make("AddExtremePointsChannel", dtype="complex-ish")
