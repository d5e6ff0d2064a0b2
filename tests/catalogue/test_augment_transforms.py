"""Clara 3.x augmentation and rescaling names (issue 13), each built from a config snippet and run on a tiny
3-D sample: an image `(1, 16, 16, 12)` with 2×2×3 mm voxels and a uint8 box label on the same grid."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import torch
from monai.data import MetaTensor

from clara_tlt.errors import ConfigError
from clara_tlt.factory.registry import build
from clara_tlt.transforms import set_random_state

WHERE = {"file": "config_train.json", "key_path": "train.pre_transforms[3]"}
AFFINE = torch.tensor(
    [[2.0, 0.0, 0.0, -10.0], [0.0, 2.0, 0.0, 5.0], [0.0, 0.0, 3.0, 1.0], [0.0, 0.0, 0.0, 1.0]]
)
RANDOM_SPECS = [
    {"name": "RandomSpatialFlip", "args": {"fields": ["image", "label"]}},
    {"name": "ScaleShiftIntensity", "args": {"fields": "image", "scale": 0.1, "shift": 0.1}},
    {
        "name": "RandomZoom",
        "args": {
            "image_field": "image",
            "label_field": "label",
            "lower_limits": [0.8, 0.8, 0.8],
            "upper_limits": [1.2, 1.2, 1.2],
        },
    },
    {"name": "RandomGaussianSmooth", "args": {"fields": "image", "probability": 1.0}},
    {"name": "RandomMRBiasField", "args": {"fields": "image", "probability": 1.0}},
    {"name": "ScaleIntensityOscillation", "args": {"fields": "image", "magnitude": 0.1}},
]


def sample(channels: int = 1) -> dict[str, MetaTensor]:
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(channels, 16, 16, 12, generator=generator) + torch.arange(channels).reshape(
        -1, 1, 1, 1
    )
    label = torch.zeros(1, 16, 16, 12, dtype=torch.uint8)
    label[:, 2:7, 3:11, 1:5] = 1
    return {"image": MetaTensor(image, affine=AFFINE), "label": MetaTensor(label, affine=AFFINE)}


def make(spec: dict[str, Any], seed: int | None = None) -> Any:
    transform = build(spec, "transform", **WHERE)
    if seed is not None:
        set_random_state(transform, seed)
    return transform


def world(affine: torch.Tensor, index: list[float]) -> torch.Tensor:
    return (torch.as_tensor(affine, dtype=torch.float64) @ torch.tensor([*index, 1.0], dtype=torch.float64))[
        :3
    ]


def test_random_spatial_flip_flips_each_axis_on_its_own_and_keeps_image_and_label_aligned() -> None:
    data = sample()
    flipped_sets = set()
    for seed in range(12):
        out = make(RANDOM_SPECS[0], seed)(data)
        axes = next(
            dims
            for n in range(4)
            for dims in itertools.combinations((1, 2, 3), n)
            if torch.equal(out["image"].as_tensor(), data["image"].as_tensor().flip(dims))
        )
        flipped_sets.add(axes)
        assert torch.equal(out["label"].as_tensor(), data["label"].as_tensor().flip(axes))
        # the affine follows: voxel (0, 0, 0) now holds what lay at the far end, at the same world point
        far = [15.0 if 1 in axes else 0.0, 15.0 if 2 in axes else 0.0, 11.0 if 3 in axes else 0.0]
        assert torch.allclose(world(out["image"].affine, [0.0, 0.0, 0.0]), world(AFFINE, far))
    assert len(flipped_sets) >= 4  # axes drawn one by one, not all or none


def test_random_spatial_flip_probability_one_flips_every_axis() -> None:
    spec = {"name": "RandomSpatialFlip", "args": {"fields": ["image", "label"], "probability": 1.0}}
    out = make(spec, 0)(sample())
    assert torch.equal(out["label"].as_tensor(), sample()["label"].as_tensor().flip((1, 2, 3)))


def test_scale_shift_intensity_scales_and_shifts_each_channel_within_bounds_in_units_of_its_std() -> None:
    data = sample(channels=2)
    data["image"] = MetaTensor(
        data["image"].as_tensor() * torch.tensor([1.0, 50.0]).reshape(2, 1, 1, 1), affine=AFFINE
    )
    slopes = []
    for seed in range(6):
        out = make(RANDOM_SPECS[1], seed)(data)
        assert torch.equal(out["label"], data["label"])
        for c in range(2):
            x, y = data["image"][c].flatten().double(), out["image"][c].flatten().double()
            slope = float(((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum())
            offset = float((y - slope * x).mean())
            assert 0.9 - 1e-5 <= slope <= 1.1 + 1e-5
            assert abs(offset) <= 0.1 * float(x.std()) * 1.0001
            slopes.append(slope)
    assert len({round(s, 6) for s in slopes}) == len(slopes)  # drawn per channel and per sample


def test_random_zoom_keeps_the_shape_zooms_image_and_label_alike_and_keeps_label_values() -> None:
    data = sample()
    data["image"] = MetaTensor(data["label"].as_tensor().float(), affine=AFFINE)
    for seed in range(4):
        out = make(RANDOM_SPECS[2], seed)(data)
        assert out["image"].shape == (1, 16, 16, 12) and out["label"].shape == (1, 16, 16, 12)
        assert out["label"].dtype == torch.uint8 and set(out["label"].unique().tolist()) <= {0, 1}
        image_box, label_box = torch.nonzero(out["image"][0] > 0.5), torch.nonzero(out["label"][0])
        assert torch.allclose(image_box.float().mean(0), label_box.float().mean(0), atol=0.5)  # aligned
        zoom = torch.tensor([2.0, 2.0, 3.0]) / torch.linalg.norm(out["image"].affine[:3, :3].float(), dim=0)
        assert torch.all((zoom >= 0.8 - 1e-4) & (zoom <= 1.2 + 1e-4)) and not torch.allclose(
            zoom, torch.ones(3)
        )
    assert not torch.equal(out["label"], data["label"])


def test_scale_by_factor_halves_the_shape_rescales_the_affine_and_restores_the_grid() -> None:
    spec = {"name": "ScaleByFactor", "args": {"fields": ["image", "label"], "factor": 0.5}}
    out = make(spec)(sample())
    assert out["image"].shape == (1, 8, 8, 6) and out["label"].shape == (1, 8, 8, 6)
    assert torch.allclose(
        torch.linalg.norm(out["image"].affine[:3, :3].float(), dim=0), torch.tensor([4.0, 4.0, 6.0])
    )
    # the same extent: the volume's centre stays where it was
    assert torch.allclose(world(out["image"].affine, [3.5, 3.5, 2.5]), world(AFFINE, [7.5, 7.5, 5.5]))
    assert out["label"].dtype == torch.uint8 and set(out["label"].unique().tolist()) == {0, 1}
    restore = {
        "name": "RestoreOriginalShape",
        "args": {"field": "label", "src_field": "image", "is_label": True},
    }
    back = make(restore)(out)
    assert back["label"].shape == (1, 16, 16, 12) and torch.allclose(back["label"].affine.float(), AFFINE)


def test_scale_by_factor_is_label_takes_nearest_values_of_a_float_label() -> None:
    data = {"label": MetaTensor(sample()["label"].as_tensor().float(), affine=AFFINE)}
    linear = make({"name": "ScaleByFactor", "args": {"fields": "label", "factor": 0.7}})(data)
    nearest = make({"name": "ScaleByFactor", "args": {"fields": "label", "factor": 0.7, "is_label": True}})(
        data
    )
    assert set(nearest["label"].unique().tolist()) == {0.0, 1.0}
    assert len(linear["label"].unique()) > 2


def test_scale_by_spacing_resamples_to_target_spacing() -> None:
    spec = {
        "name": "ScaleBySpacing",
        "args": {"fields": ["image", "label"], "target_spacing": [4.0, 4.0, 1.5]},
    }
    out = make(spec)(sample())
    assert out["image"].shape == (1, 8, 8, 24) and out["label"].shape == (1, 8, 8, 24)
    assert torch.allclose(
        torch.linalg.norm(out["label"].affine[:3, :3].float(), dim=0), torch.tensor([4.0, 4.0, 1.5])
    )


def test_random_gaussian_smooth_blurs_and_leaves_the_label_alone() -> None:
    data = sample()
    out = make(RANDOM_SPECS[3], 0)(data)
    inner = (slice(None), slice(4, 12), slice(4, 12), slice(4, 8))
    assert out["image"][inner].std() < 0.8 * data["image"][inner].std()
    assert abs(float(out["image"][inner].mean() - data["image"][inner].mean())) < 0.05
    assert torch.equal(out["label"], data["label"])


def test_random_mr_bias_field_multiplies_every_field_by_one_smooth_positive_field() -> None:
    spec = {"name": "RandomMRBiasField", "args": {"fields": ["image", "other"], "coeff_range": [0.2, 0.3]}}
    spec["args"]["probability"] = 1.0
    data = {**sample(), "other": MetaTensor(torch.full((1, 16, 16, 12), 2.0), affine=AFFINE)}
    out = make(spec, 1)(data)
    ratio = out["other"] / 2.0
    assert torch.all(ratio > 0) and ratio.std() > 0.01
    assert torch.allclose(out["image"], data["image"] * ratio, atol=1e-5)
    assert (ratio[:, 1:] - ratio[:, :-1]).abs().max() < 0.5 * (ratio.max() - ratio.min())


def test_scale_intensity_oscillation_accepts_clara_probability() -> None:
    data = sample()
    never = {
        "name": "ScaleIntensityOscillation",
        "args": {"fields": "image", "magnitude": 0.1, "probability": 0.0},
    }
    assert torch.equal(make(never, 0)(data)["image"], data["image"])
    always = make(RANDOM_SPECS[5], 0)(data)["image"] / data["image"]
    assert torch.allclose(always, always.flatten()[0]) and 0.9 <= float(always.flatten()[0]) <= 1.1


@pytest.mark.parametrize("spec", RANDOM_SPECS, ids=lambda s: s["name"])
def test_probability_zero_leaves_the_sample_untouched(spec: dict[str, Any]) -> None:
    data = sample()
    out = make({"name": spec["name"], "args": {**spec["args"], "probability": 0.0}}, 0)(data)
    assert all(torch.equal(out[key], data[key]) for key in data)


@pytest.mark.parametrize("spec", RANDOM_SPECS, ids=lambda s: s["name"])
def test_the_same_seed_gives_the_same_output(spec: dict[str, Any]) -> None:
    first, again = (make(spec, 5)(sample()) for _ in range(2))
    assert torch.equal(first["image"], again["image"]) and torch.equal(first["label"], again["label"])
    assert any(not torch.equal(first["image"], make(spec, seed)(sample())["image"]) for seed in (6, 7, 8))


@pytest.mark.parametrize(
    "args",
    [
        {"name": "RandomGaussianSmooth", "args": {"fields": "image", "sigma_range": [1.5, 0.25]}},
        {"name": "RandomMRBiasField", "args": {"fields": "image", "degree": 0}},
        {"name": "ScaleByFactor", "args": {"fields": "image", "factor": 0}},
        {"name": "ScaleShiftIntensity", "args": {"fields": "image", "scale": -0.1}},
        {
            "name": "RandomZoom",
            "args": {"image_field": "image", "lower_limits": [1.1], "upper_limits": [0.9]},
        },
    ],
    ids=lambda s: s["name"],
)
def test_impossible_arguments_are_config_errors(args: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        make(args)


@pytest.mark.parametrize(
    "spec",
    [
        {"name": "RandomSpatialFlip", "args": {"fields": ["image", "label"]}},
        {"name": "ScaleShiftIntensity", "args": {"fields": "image"}},
        {"name": "ScaleByFactor", "args": {"fields": ["label"], "factor": 0.5}},
        {
            "name": "ScaleIntensityOscillation",
            "args": {"fields": "image", "magnitude": 0.1, "probability": 0.1},
        },
        {"name": "AddGaussianNoise", "args": {"fields": ["image"], "probability": 0.1}},
        {"name": "RandomAxisFlip", "args": {"fields": ["image", "label"], "probability": 0.75}},
        {"name": "RandomRotate3D", "args": {"fields": ["image", "label"], "probability": 0.0}},
        {"name": "RandomRotate2D", "args": {"fields": ["image", "label"], "angle": 15, "is_random": True}},
        {
            "name": "ScaleByResolution",
            "args": {"fields": ["label"], "is_label": True, "target_resolution": [1, 1, 1]},
        },
    ],
    ids=lambda s: s["name"],
)
def test_argument_spellings_of_clara_users_configs_build(spec: dict[str, Any]) -> None:
    assert callable(make(spec))
