"""Clara 3.x crop and pad names of issue 13, built from config snippets: the window each takes is the same for
image and label, the affine says where that window lies, pos/neg ratios hold, and a seed repeats a run."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import DivisiblePadd

from clara_tlt.errors import ConfigError
from clara_tlt.factory.registry import build
from clara_tlt.transforms import set_random_state

WHERE = {"file": "config_train.json", "key_path": "train.pre_transforms[2]"}
SPACING = (2.0, 3.0, 4.0)
SHAPE = (16, 16, 12)
BOX = (slice(6, 10), slice(6, 10), slice(5, 8))  # kept 3 voxels from the edges: see `centred_on_label`


def make(name: str, **args: Any) -> Any:
    return build({"name": name, "args": args}, "transform", **WHERE)


def volume() -> dict[str, MetaTensor]:
    """image `(1, 16, 16, 12)` float, value = flat voxel index; label uint8 with one box; spacing 2, 3, 4 mm."""
    affine = torch.diag(torch.tensor([*SPACING, 1.0], dtype=torch.float64))
    affine[:3, 3] = torch.tensor([10.0, -20.0, 30.0], dtype=torch.float64)
    image = MetaTensor(torch.arange(16 * 16 * 12, dtype=torch.float32).reshape(1, *SHAPE), affine=affine)
    label = torch.zeros((1, *SHAPE), dtype=torch.uint8)
    label[(0, *BOX)] = 1
    return {"image": image, "label": MetaTensor(label, affine=affine.clone())}


def window_start(out: MetaTensor, source: MetaTensor) -> list[int]:
    """The source voxel the output's first voxel lies on, read from the two affines."""
    index = torch.linalg.solve(source.affine.double(), out.affine.double()[:, -1])[: out.ndim - 1]
    assert torch.allclose(index, index.round(), atol=1e-6), "the window is not on the source grid"
    return [int(v) for v in index.round()]


def assert_same_window(out: dict[str, Any], source: dict[str, MetaTensor], keys: tuple[str, ...]) -> None:
    """Every field of `keys` is the source's voxels under the window its affine names, one window for all."""
    starts = {key: tuple(window_start(out[key], source[key])) for key in keys}
    assert len(set(starts.values())) == 1, starts
    start = next(iter(starts.values()))
    for key in keys:
        size = out[key].shape[1:]
        region = tuple(slice(s, s + n) for s, n in zip(start, size, strict=True))
        assert torch.equal(out[key].as_tensor(), source[key].as_tensor()[(slice(None), *region)]), key
        assert out[key].dtype == source[key].dtype


def centred_on_label(out: dict[str, Any]) -> bool:
    """A 4³ crop's centre voxel is on the label: the drawn centre was foreground (the box lies far enough from
    the edges that a window moved back inside the image never puts its centre in the box)."""
    return bool(out["label"][0, 2, 2, 2] == 1)


ROI_ARGS = {  # the argument set Clara 3.x configs write, at test size
    "size": [4, 4, 4],
    "image_field": "image",
    "label_field": "label",
    "deform": False,
    "rotation": False,
    "rotation_degree": 20,
    "scale": False,
    "scale_factor": 0.1,
    "pos": 1,
    "neg": 1,
    "fast_crop": True,
}


def test_fast_pos_neg_ratio_crop_roi_takes_clara_arguments_and_crops_one_aligned_window() -> None:
    source = volume()
    crop = make("FastPosNegRatioCropROI", **ROI_ARGS)
    set_random_state(crop, 3)
    outs = [crop(source) for _ in range(6)]
    for out in outs:
        assert out["image"].shape == out["label"].shape == (1, 4, 4, 4)
        assert_same_window(out, source, ("image", "label"))
    assert len({tuple(window_start(o["image"], source["image"])) for o in outs}) > 1
    set_random_state(crop, 3)
    assert all(torch.equal(crop(source)["image"], o["image"]) for o in outs)


@pytest.mark.parametrize(("pos", "neg", "centred"), [(1, 0, 12), (0, 1, 0)])
def test_fast_pos_neg_ratio_crop_roi_centres_follow_pos_and_neg(pos: int, neg: int, centred: int) -> None:
    crop = make("FastPosNegRatioCropROI", **{**ROI_ARGS, "pos": pos, "neg": neg})
    set_random_state(crop, 0)
    assert sum(centred_on_label(crop(volume())) for _ in range(12)) == centred


def test_fast_crop_decides_only_whether_the_indices_are_kept() -> None:
    source = volume()
    fast = make("FastPosNegRatioCropROI", **ROI_ARGS)
    slow = make("FastPosNegRatioCropROI", **{**ROI_ARGS, "fast_crop": False})
    assert "label_fg_indices" in fast.precompute(source)
    assert "label_fg_indices" not in slow.precompute(source)
    set_random_state(fast, 5)
    set_random_state(slow, 5)
    for _ in range(3):
        a, b = fast(fast.precompute(source)), slow(slow.precompute(source))
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["label"], b["label"])
        assert "label_fg_indices" not in a


def test_fast_pos_neg_ratio_crop_roi_rotation_and_scale_resample_and_the_affine_follows() -> None:
    source = volume()
    crop = make("FastPosNegRatioCropROI", **{**ROI_ARGS, "rotation": True, "scale": True, "deform": False})
    set_random_state(crop, 1)
    out = crop(source)
    assert out["image"].shape == out["label"].shape == (1, 4, 4, 4)
    assert out["label"].dtype == torch.uint8 and set(out["label"].unique().tolist()) <= {0, 1}
    linear = out["image"].affine[:3, :3] / torch.tensor(SPACING, dtype=torch.float64)
    assert not torch.allclose(linear, torch.eye(3, dtype=torch.float64), atol=1e-3)  # rotated or scaled
    # The image is linear in its voxel index, so a linear resampling of it is exact: the central voxels'
    # values name the source voxel their affine puts them on.
    to_source = torch.linalg.solve(source["image"].affine, out["image"].affine)
    for voxel in [(1, 1, 1), (2, 2, 2), (1, 2, 2), (2, 1, 2)]:
        i, j, k = (to_source @ torch.tensor([*voxel, 1.0], dtype=torch.float64))[:3].tolist()
        assert float(out["image"][(0, *voxel)]) == pytest.approx(i * 192 + j * 12 + k, abs=0.05)


def test_fast_pos_neg_ratio_crop_roi_with_deform_keeps_the_label_a_label() -> None:
    crop = make("FastPosNegRatioCropROI", **{**ROI_ARGS, "deform": True, "pos": 1, "neg": 0})
    set_random_state(crop, 2)
    out = crop(volume())
    assert out["image"].shape == (1, 4, 4, 4) and set(out["label"].unique().tolist()) <= {0, 1}


BATCH_ARGS = {"size": [4, 4, 4], "label_field": "label", "pos": 1, "neg": 1, "batch_size": 4}


def test_crop_by_pos_neg_ratio_gives_batches_with_the_ratio_and_no_cached_indices() -> None:
    source = volume()
    crop = make("CropByPosNegRatio", fields=["image"], batches_to_gen_at_once=3, **BATCH_ARGS)
    set_random_state(crop, 4)
    outs = crop(source)
    assert len(outs) == 12
    for batch in (outs[0:4], outs[4:8], outs[8:12]):
        assert sum(centred_on_label(o) for o in batch) == 2  # 4 · 1/(1+1), exactly
    for out in outs:
        assert_same_window(out, source, ("image", "label"))
    assert "label_fg_indices" not in crop.precompute(source)
    fast = make("FastCropByPosNegRatio", fields=["image"], batches_to_gen_at_once=3, **BATCH_ARGS)
    set_random_state(fast, 4)
    assert all(torch.equal(a["image"], b["image"]) for a, b in zip(outs, fast(source), strict=True))


def test_crop_by_pos_neg_ratio_label_only_crops_a_sample_that_is_a_label() -> None:
    source = volume()
    crop = make("CropByPosNegRatioLabelOnly", **{**BATCH_ARGS, "pos": 3, "neg": 1})
    set_random_state(crop, 6)
    outs = crop({"label": source["label"], "name": "case_1"})
    assert len(outs) == 4 and sum(centred_on_label(o) for o in outs) == 3
    for out in outs:
        assert out["label"].shape == (1, 4, 4, 4) and out["name"] == "case_1"
        assert_same_window(out, source, ("label",))
    set_random_state(crop, 6)
    again = crop({"label": source["label"], "name": "case_1"})
    assert all(torch.equal(a["label"], b["label"]) for a, b in zip(outs, again, strict=True))
    with pytest.raises(ConfigError, match="fields"):
        make("CropByPosNegRatioLabelOnly", fields=["image"], **BATCH_ARGS)


def test_crop_fixed_size_random_center_takes_one_window_for_all_fields() -> None:
    source = volume()
    crop = make("CropFixedSizeRandomCenter", size=[8, 8, 6], fields=["image", "label"])
    set_random_state(crop, 8)
    outs = [crop(source) for _ in range(5)]
    for out in outs:
        assert out["image"].shape == out["label"].shape == (1, 8, 8, 6)
        assert_same_window(out, source, ("image", "label"))
    assert len({tuple(window_start(o["image"], source["image"])) for o in outs}) > 1
    set_random_state(crop, 8)
    assert all(torch.equal(crop(source)["label"], o["label"]) for o in outs)


def test_crop_fixed_size_random_center_in_2d_and_larger_than_the_image() -> None:
    plane = {"image": MetaTensor(torch.rand(1, 20, 24)), "label": MetaTensor(torch.ones(1, 20, 24))}
    out = make("CropFixedSizeRandomCenter", fields=["image", "label"], size=[8, 8])(plane)
    assert out["image"].shape == out["label"].shape == (1, 8, 8)
    assert_same_window(out, plane, ("image", "label"))
    source = volume()
    wide = make("CropFixedSizeRandomCenter", fields=["image", "label"], size=[20, 4, 4])(source)
    assert wide["image"].shape == (1, 20, 4, 4)  # the window stays `size`: zero-padded 2 voxels each side
    assert window_start(wide["image"], source["image"])[0] == -2
    assert float(wide["label"][:, :2].abs().sum() + wide["label"][:, 18:].abs().sum()) == 0.0


def test_symmetric_padder_div_pads_to_a_multiple_like_monai_and_keeps_the_overlay() -> None:
    source = volume()
    out = make("SymmetricPadderDiv", fields=["image", "label"], div_int=5)(source)
    assert out["image"].shape == out["label"].shape == (1, 20, 20, 15)
    expected = DivisiblePadd(keys=["image", "label"], k=5, method="symmetric")(dict(source))
    for key in ("image", "label"):
        assert torch.equal(out[key].as_tensor(), expected[key].as_tensor())
        assert out[key].dtype == source[key].dtype
        assert window_start(out[key], source[key]) == [-2, -2, -1]  # 16 → 20: 2 before; 12 → 15: 1 before
        assert torch.equal(out[key][:, 2:18, 2:18, 1:13].as_tensor(), source[key].as_tensor())
    same = make("SymmetricPadderDiv", fields="image", div_int=4)(source)
    assert same["image"].shape == (1, *SHAPE) and torch.equal(same["image"].affine, source["image"].affine)
    with pytest.raises(ConfigError, match="div_int"):
        make("SymmetricPadderDiv", fields="image", div_int=0)
