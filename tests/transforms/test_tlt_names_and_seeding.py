"""TLT 1.x names (seed 003 §10.2, EA form with prefixes) build and run; seeded runs repeat exactly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from clara_tlt.factory.registry import build
from clara_tlt.transforms import apply_chain, set_random_state

# The DExtr3D training list of seed 003 (EA form: arguments beside the name), sizes shrunk to 16³.
TLT_TRAIN = [
    {"name": "transforms.LoadNumpyFromFilename", "fields": ["image", "label"]},
    {"name": "transforms.NPRandomFlip3D", "applied_keys": ["image", "label"]},
    {
        "name": "transforms.NPRandomZoom3D",
        "applied_keys": ["image", "label"],
        "lower_limits": [0.8, 0.8, 0.8],
        "upper_limits": [1.2, 1.2, 1.2],
    },
    {"name": "transforms.VolumeTo4dArray", "fields": ["image", "label"]},
    {
        "name": "transforms.ScaleIntensityRange",
        "field": "image",
        "a_min": -1024,
        "a_max": 1024,
        "b_min": -1.0,
        "b_max": 1.0,
        "clip": True,
    },
    {"name": "transforms.ScaleIntensityOscillation", "field": "image", "magnitude": 0.2},
    {
        "name": "transforms.CropForegroundObject",
        "size": [16, 16, 16],
        "image_field": "image",
        "label_field": "label",
        "pad": 2,
        "foreground_only": True,
    },
    {"name": "transforms.NPRandomRot90_XY", "applied_keys": ["image", "label"]},
    {
        "name": "transforms.AddExtremePointsChannel",
        "image_field": "image",
        "label_field": "label",
        "sigma": 3,
        "pert": 3,
    },
]
TLT_POST = [
    {
        "name": "transforms.SplitAcrossChannels",
        "applied_key": "image",
        "squeeze": True,
        "channel_names": ["image", "extreme_points"],
    },
]


def ea(spec: dict[str, Any], index: int = 0) -> Any:
    return build(spec, "transform", file="config_train.json", key_path=f"train.pre_transforms[{index}]")


@pytest.fixture
def npy_sample(tmp_path: Path) -> dict[str, str]:
    rng = np.random.default_rng(2)
    np.save(tmp_path / "image.npy", rng.uniform(-500, 500, (20, 20, 14)).astype(np.float32))
    label = np.zeros((20, 20, 14), np.uint8)
    label[5:12, 6:13, 4:9] = 1
    np.save(tmp_path / "label.npy", label)
    return {"image": str(tmp_path / "image.npy"), "label": str(tmp_path / "label.npy")}


def run_tlt(sample: dict[str, str], seed: int) -> dict[str, Any]:
    chain = [ea(spec, i) for i, spec in enumerate(TLT_TRAIN)] + [ea(spec) for spec in TLT_POST]
    set_random_state(chain, seed)
    return apply_chain(chain, dict(sample))


def test_tlt_dextr3d_chain(npy_sample: dict[str, str]) -> None:
    out = run_tlt(npy_sample, seed=0)
    assert out["image"].shape == out["extreme_points"].shape == (16, 16, 16)
    assert out["label"].shape == (1, 16, 16, 16) and set(torch.unique(out["label"]).tolist()) == {0, 1}
    assert float(out["image"].min()) >= -1.3 and float(out["image"].max()) <= 1.3
    assert float(out["extreme_points"].max()) == pytest.approx(1.0)


def test_same_seed_same_samples_different_seed_different(npy_sample: dict[str, str]) -> None:
    first, again, other = run_tlt(npy_sample, 5), run_tlt(npy_sample, 5), run_tlt(npy_sample, 6)
    for key in ("image", "label", "extreme_points"):
        assert torch.equal(first[key], again[key])
    assert not torch.equal(first["extreme_points"], other["extreme_points"])


def test_seeded_crops_repeat(volume_files: dict[str, str]) -> None:
    chain = [
        ea({"name": "LoadNifti", "args": {"fields": ["image", "label"]}}),
        ea({"name": "ConvertToChannelsFirst", "args": {"fields": ["image", "label"]}}),
        ea(
            {"name": "FastCropByPosNegRatio", "args": {"size": [8, 8, 8], "fields": "image", "batch_size": 3}}
        ),
        ea({"name": "RandomAxisFlip", "args": {"fields": ["image", "label"], "probability": 0.5}}),
        ea({"name": "ScaleIntensityOscillation", "args": {"fields": "image", "magnitude": 0.1}}),
    ]

    def run(seed: int) -> list[torch.Tensor]:
        set_random_state(chain, seed)
        return [c["image"] for c in apply_chain(chain, dict(volume_files))]

    a, b, c = run(1), run(1), run(2)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(a, c, strict=True))


def _vol() -> MetaTensor:
    image = MetaTensor(torch.rand((1, 12, 12, 10)) * 100)
    image.meta["channel_dim"] = 0
    return image


@pytest.mark.parametrize(
    ("spec", "check"),
    [
        (
            {"name": "transforms.AdjustContrast", "field": "image"},
            lambda o: o["image"].shape == (1, 12, 12, 10),
        ),
        (
            {"name": "transforms.AddGaussianNoise", "field": "image"},
            lambda o: float((o["image"] - o["ref"]).std()) > 0.05,
        ),
        (
            {"name": "transforms.NormalizeNonzeroIntensities", "fields": "image"},
            lambda o: abs(float(o["image"].mean())) < 1e-4,
        ),
        (
            {"name": "transforms.NPExpandDims", "applied_keys": "image"},
            lambda o: o["image"].shape == (1, 1, 12, 12, 10),
        ),
        (
            {"name": "transforms.NPRepChannels", "applied_keys": "image", "channel_axis": 0, "repeat": 3},
            lambda o: o["image"].shape == (3, 12, 12, 10),
        ),
        (
            {"name": "transforms.CenterData", "applied_keys": "image"},
            lambda o: abs(float(o["image"].std()) - 1) < 1e-4,
        ),
        (
            {"name": "transforms.CropSubVolumeRandomWithinBounds", "fields": ["image"], "size": [4, 5, 6]},
            lambda o: o["image"].shape == (1, 4, 5, 6),
        ),
        (
            {"name": "transforms.CropSubVolumeCenter", "fields": ["image"], "size": [4, 4, 4]},
            lambda o: torch.equal(o["image"], o["ref"][:, 4:8, 4:8, 3:7]),
        ),
        (
            {"name": "transforms.FlipAxisRandom", "fields": ["image"], "axis": [0], "probability": 1.0},
            lambda o: torch.equal(o["image"], o["ref"].flip(1)),
        ),
        (
            {
                "name": "transforms.ResampleVolume",
                "applied_key": "image",
                "resolution": [1, 1, 1],
                "target_resolution": [2, 2, 2],
            },
            lambda o: o["image"].shape == (1, 6, 6, 5),
        ),
        (
            {"name": "transforms.Load3DShapeFromNumpy", "applied_key": "image"},
            lambda o: o["image_shape"] == [12, 12, 10],
        ),
        (
            {"name": "transforms.LoadResolutionFromNifty", "applied_key": "image"},
            lambda o: o["image_resolution"] == [1.0, 1.0, 1.0],
        ),
        (
            {"name": "transforms.SplitAcrossChannels", "applied_key": "image"},
            lambda o: o["image0"].shape == (1, 12, 12, 10),
        ),
        (
            {"name": "transforms.NPResizeImage", "applied_keys": "image", "output_shape": [6, 6, 5]},
            lambda o: o["image"].shape == (1, 6, 6, 5),
        ),
        (
            {"name": "transforms.NP2DRotate", "applied_keys": "plane", "angle": 90},
            lambda o: (
                torch.allclose(o["plane"][0], o["plane_ref"][0].rot90(1, (0, 1)), atol=1e-4)
                or torch.allclose(o["plane"][0], o["plane_ref"][0].rot90(-1, (0, 1)), atol=1e-4)
            ),
        ),
        (
            {
                "name": "transforms.CropRandomSubImageInRange",
                "applied_keys": "plane",
                "lower_size": 0.5,
                "max_displacement": 2,
            },
            lambda o: 3 <= o["plane"].shape[1] <= 6,
        ),
        (
            {
                "name": "transforms_ctrl.CropSubVolumePosNegRatioCtrlEpoch",
                "image_field": "image",
                "label_field": "label",
                "size": [4, 4, 4],
                "ratio_start": 1e9,
            },
            lambda o: int(o["label"][0, 2, 2, 2]) == 1,
        ),
        (
            {
                "name": "transforms_fastaug.TransformVolumeCropROIFastPosNegRatio",
                "applied_keys": ["image", "label"],
                "size": [6, 6, 6],
                "rotation": True,
                "scale": True,
                "deform": True,
            },
            lambda o: (
                o["image"].shape == o["label"].shape == (1, 6, 6, 6) and o["label"].dtype == torch.uint8
            ),
        ),
        (
            {"name": "transforms.BratsConvertLabels", "fields": "brats"},
            lambda o: o["brats"].shape == (3, 2, 2) and o["brats"][:, 0, 1].tolist() == [1, 1, 1],
        ),
    ],
)
def test_tlt_name(spec: dict[str, Any], check: Any) -> None:
    image = _vol()
    label = torch.zeros((1, 12, 12, 10), dtype=torch.uint8)
    label[0, 5:8, 5:8, 4:7] = 1
    plane = MetaTensor(torch.arange(36.0).reshape(1, 6, 6))
    brats = MetaTensor(torch.tensor([[0, 4], [2, 1]]), meta={"channel_dim": None})
    sample = {
        "image": image,
        "ref": image.clone(),
        "label": MetaTensor(label),
        "plane": plane,
        "plane_ref": plane.clone(),
        "brats": brats,
    }
    transform = ea(spec)
    set_random_state([transform], 0)
    assert check(transform(sample))


def test_write_nifty_results(tmp_path: Path, volume_files: dict[str, str]) -> None:
    import nibabel as nib

    loaded = ea({"name": "LoadNifti", "args": {"fields": "image"}})({"image": volume_files["image"]})
    out = ea(
        {
            "name": "transforms.WriteNiftyResults",
            "applied_key": "image",
            "write_path": str(tmp_path),
            "dtype": "float32",
        }
    )(loaded)
    written = nib.load(out["image_path"])
    assert Path(out["image_path"]) == tmp_path / "ct" / "ct_image.nii.gz"
    assert np.allclose(written.affine, loaded["image"].affine.numpy()) and np.allclose(
        written.get_fdata(), loaded["image"].numpy()
    )
