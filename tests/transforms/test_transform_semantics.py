"""What each Clara transform does, on tiny in-memory samples (semantics; crop sizes shrunk for speed)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
import torch
from monai.data import MetaTensor
from monai.transforms import RandFlipd

from clara_tlt.errors import ConfigError
from clara_tlt.factory.registry import build
from clara_tlt.io.arrays import read_array
from clara_tlt.transforms import apply_chain, set_random_state


def t(name: str, **args: object) -> object:
    return build({"name": name, "args": args}, "transform", file="test.json", key_path="pre_transforms[0]")


def volume(
    shape: tuple[int, ...] = (1, 16, 16, 12), spacing: tuple[float, ...] = (1.0, 1.0, 1.0)
) -> MetaTensor:
    affine = torch.diag(torch.tensor([*spacing, 1.0], dtype=torch.float64))
    return MetaTensor(torch.arange(float(np.prod(shape))).reshape(shape) / np.prod(shape), affine=affine)


def box_label(shape: tuple[int, ...] = (1, 16, 16, 12)) -> MetaTensor:
    label = torch.zeros(shape, dtype=torch.uint8)
    label[0, 6:10, 5:9, 4:8] = 1
    return MetaTensor(label)


def test_readers_keep_affine_for_nifti_metaimage_nrrd(tmp_path: Path) -> None:
    array = np.random.default_rng(1).random((6, 5, 4)).astype(np.float32)
    affine = np.array([[-0.8, 0, 0, 10.0], [0, -0.7, 0, 20.0], [0, 0, 2.5, -5.0], [0, 0, 0, 1]])
    nib.save(nib.Nifti1Image(array, affine), tmp_path / "a.nii.gz")
    nifti, nifti_affine = read_array(tmp_path / "a.nii.gz")
    assert np.allclose(nifti, array) and np.allclose(nifti_affine, affine)
    itk = sitk.GetImageFromArray(array.transpose(2, 1, 0))  # SimpleITK is z-first
    itk.SetSpacing((0.8, 0.7, 2.5))
    itk.SetOrigin((-10.0, -20.0, -5.0))  # LPS of the same RAS point
    for suffix in (".mha", ".nrrd"):
        sitk.WriteImage(itk, str(tmp_path / f"a{suffix}"))
        loaded, loaded_affine = read_array(tmp_path / f"a{suffix}")
        assert np.allclose(loaded, array) and np.allclose(loaded_affine, affine)
    with pytest.raises(ValueError, match="unknown image format"):
        (tmp_path / "a.xyz").write_text("x")
        read_array(tmp_path / "a.xyz")


def test_load_channels_from_a_list_of_paths(volume_files: dict[str, str]) -> None:
    sample = t("LoadNifti", fields="image")({"image": [volume_files["image"], volume_files["image"]]})
    assert sample["image"].shape == (24, 24, 16, 2)
    first = t("ConvertToChannelsFirst", fields="image")(sample)["image"]
    assert first.shape == (2, 24, 24, 16) and torch.equal(first[0], first[1])
    assert first.meta["filename_or_obj"] == volume_files["image"]


def test_load_png_and_label_list(png_file: str) -> None:
    sample = t("LoadPng", fields=["image", "label"])({"image": png_file, "label": [0, 1, 1]})
    assert sample["image"].shape == (40, 36)  # (x, y) as MONAI's PILReader
    assert int(sample["image"][1, 0]) == 2001 and sample["label"].tolist() == [0.0, 1.0, 1.0]


def test_intensity_range_leaves_label_alone() -> None:
    sample = {"image": MetaTensor(torch.tensor([[-100.0, -57.0, 53.5, 164.0, 500.0]])), "label": box_label()}
    out = t("ScaleIntensityRange", fields="image", a_min=-57, a_max=164, b_min=0.0, b_max=1.0, clip=True)(
        sample
    )
    assert torch.allclose(out["image"], torch.tensor([[0.0, 0.0, 0.5, 1.0, 1.0]]))
    assert out["label"] is sample["label"]


def test_oscillation_scales_within_magnitude() -> None:
    osc = t("ScaleIntensityOscillation", fields="image", magnitude=0.1)
    image = torch.ones((1, 4, 4, 4))
    factors = {float(osc({"image": image})["image"][0, 0, 0, 0]) for _ in range(20)}
    assert len(factors) > 10 and all(0.9 <= f <= 1.1 for f in factors)


def test_fast_crop_pos_neg_ratio_and_alignment() -> None:
    crop = t(
        "FastCropByPosNegRatio",
        size=[4, 4, 4],
        fields="image",
        label_field="label",
        pos=1,
        neg=1,
        batch_size=4,
    )
    set_random_state([crop], 7)
    image = box_label().float() * 5 + 1
    for _ in range(5):
        crops = crop(
            {
                "image": MetaTensor(image.as_tensor(), affine=torch.eye(4, dtype=torch.float64)),
                "label": box_label(),
            }
        )
        assert len(crops) == 4
        centres = [int(c["label"][0, 2, 2, 2]) for c in crops]
        assert sorted(centres) == [0, 0, 1, 1]  # 1:1 of 4 → 2 foreground centres, 2 background
        for c in crops:
            assert c["image"].shape == (1, 4, 4, 4) and torch.equal(c["image"], c["label"].float() * 5 + 1)
            start = c["image"].affine[:3, 3].long()  # the origin moved to the crop's first voxel
            region = box_label()[0, start[0] : start[0] + 4, start[1] : start[1] + 4, start[2] : start[2] + 4]
            assert torch.equal(c["label"][0], region)


def test_fast_crop_uses_precomputed_indices() -> None:
    crop = t("FastCropByPosNegRatio", size=[4, 4, 4], fields="image", pos=1, neg=0, batch_size=2)
    sample = crop.precompute({"image": volume(), "label": box_label()})
    sample["label_fg_indices"] = sample["label_fg_indices"][:1]  # only one voxel allowed: it must be used
    crops = crop(sample)
    first = np.unravel_index(int(sample["label_fg_indices"][0]), (16, 16, 12))
    assert all(int(c["label"][0, 2, 2, 2]) == 1 for c in crops)
    assert all(c["label"].affine[:3, 3].tolist() == [v - 2 for v in first] for c in crops)


def test_split_based_on_label_and_argmax() -> None:
    scores = torch.zeros((3, 4, 4, 4))
    scores[1, :2] = 1
    scores[2, 2:3] = 1
    sample = t("ArgmaxAcrossChannels", fields="model")({"model": MetaTensor(scores)})
    assert sample["model"].shape == (1, 4, 4, 4) and sample["model"].dtype == torch.uint8
    out = t("SplitBasedOnLabel", field="model", label_names=["bg", "a", "b"])(sample)
    assert [int(out[k].sum()) for k in ("bg", "a", "b")] == [16, 32, 16]
    assert all(out[k].shape == (1, 4, 4, 4) for k in ("bg", "a", "b"))


def test_scale_by_resolution_then_restore() -> None:
    label = box_label()
    label.affine = torch.diag(torch.tensor([2.0, 1.0, 3.0, 1.0], dtype=torch.float64))
    label.meta["channel_dim"] = 0
    scaled = t("ScaleByResolution", fields="label", target_resolution=[1.0, 1.0, 1.0])({"label": label})[
        "label"
    ]
    assert scaled.shape == (1, 32, 16, 36) and scaled.dtype == torch.uint8
    assert torch.allclose(torch.linalg.norm(scaled.affine[:3, :3], dim=0), torch.ones(3, dtype=torch.float64))
    assert int(scaled.sum()) == int(label.sum()) * 6  # nearest: each voxel became 2×1×3
    sample = {"image": scaled, "model": scaled.clone()}
    restored = t("RestoreOriginalShape", field="model", src_field="image", is_label=True)(sample)["model"]
    assert torch.equal(restored, label) and torch.allclose(restored.affine, label.affine)


def test_scale_by_resolution_is_label_chooses_nearest_or_linear() -> None:
    """Clara 3.x writes `is_label: true` on the label's ScaleByResolution (float labels stay 0/1)."""
    label = box_label().float()
    label.affine = torch.diag(torch.tensor([2.0, 2.0, 2.0, 1.0], dtype=torch.float64))
    label.meta["channel_dim"] = 0
    nearest = t("ScaleByResolution", fields="label", is_label=True)({"label": label})["label"]
    assert set(nearest.unique().tolist()) == {0.0, 1.0}
    linear = t("ScaleByResolution", fields="label", is_label=False)({"label": label})["label"]
    assert len(linear.unique()) > 2  # interpolated at the box's edges


def test_random_rotate_and_flip_keep_image_and_label_aligned() -> None:
    for name in ("RandomRotate3D", "RandomAxisFlip"):
        rot = t(name, fields=["image", "label"], probability=1.0)
        set_random_state([rot], 5)
        label = box_label()
        out = rot({"image": label.float() * 3, "label": label})
        assert torch.equal(out["image"], out["label"].float() * 3)
        assert int(out["label"].sum()) == int(label.sum()) and not torch.equal(out["label"], label)
    skip = t("RandomRotate3D", fields=["image"], probability=0.0)
    image = volume()
    assert torch.equal(skip({"image": image})["image"], image)


def test_rotate2d_crop_resize_channels_last_repeat_center() -> None:
    image = MetaTensor(torch.ones((40, 30)) * 10, meta={"channel_dim": None})
    chain = [
        t("CropRandomSizeWithDisplacement", fields="image", lower_size=[0.5, 0.5], max_displacement=5),
        t("ScaleToShape", fields=["image"], target_shape=[16, 16]),
        t("RandomRotate2D", fields=["image"], angle=30, is_random=True),
        t("ConvertToChannelsLast", fields="image"),
        t("RepeatChannel", fields="image", repeat_times=3),
        t("CenterData", fields="image", subtrahend=[1.0, 2.0, 3.0], divisor=[1.0, 2.0, 3.0]),
    ]
    set_random_state(chain, 11)
    out = apply_chain(chain, {"image": image})["image"]
    assert out.shape == (16, 16, 3)
    centre = out[8, 8]
    assert torch.allclose(centre, torch.tensor([9.0, 4.0, 7.0 / 3.0]))


def test_extreme_points_channel_and_fetch() -> None:
    label = box_label()
    points = t("FetchExtremePoints", image_field="image", label_field="label", points="points")(
        {"label": label}
    )
    assert len(points["points"]) == 6
    assert [p[0] for p in points["points"][:2]] == [6, 9] and [p[1] for p in points["points"][2:4]] == [5, 8]
    add = t("AddExtremePointsChannel", image_field="image", label_field="label", sigma=1.0, pert=0)
    out = add({"image": volume(), "label": label})["image"]
    assert out.shape == (2, 16, 16, 12)
    heat = out[1]
    assert float(heat.min()) == pytest.approx(-1.0) and float(heat.max()) == pytest.approx(1.0)
    faces = [heat[6], heat[9], heat[:, 5], heat[:, 8], heat[:, :, 4], heat[:, :, 7]]
    assert all(float(face.max()) > -0.5 for face in faces)  # a blob on each extreme face of the box
    assert float(heat[11:, 11:, 9:].max()) < -0.9  # nothing far from the object
    assert float(heat[0, 0, 0]) == pytest.approx(-1.0)
    perturbed = t("AddExtremePointsChannel", image_field="image", label_field="label", sigma=1.0, pert=3)
    set_random_state([perturbed], 1)
    assert not torch.equal(perturbed({"image": volume(), "label": label})["image"][1], heat)


def test_monai_dictionary_transform_stands_in_the_same_list() -> None:
    chain = [
        t("ConvertToChannelsFirst", fields="image"),
        t("RandFlipd", keys="image", prob=1.0, spatial_axis=0),
    ]
    image = MetaTensor(torch.arange(8.0).reshape(2, 2, 2), meta={"channel_dim": None})
    out = apply_chain(chain, {"image": image})["image"]
    assert out.shape == (1, 2, 2, 2) and torch.equal(out[0], image.flip(0))
    assert isinstance(chain[1], RandFlipd)


def test_bad_arguments_name_the_problem() -> None:
    with pytest.raises(ConfigError, match="did you mean 'fields'"):
        t("ScaleIntensityRange", feilds="image")
    with pytest.raises(ConfigError, match="give the fields once"):
        t("ScaleIntensityRange", fields="image", field="image")
    with pytest.raises(KeyError, match="no field 'image'"):
        t("ScaleIntensityRange", fields="image")({"label": box_label()})
