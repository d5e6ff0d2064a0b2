"""Every registered name of every kind builds from a config snippet and runs on a tiny sample (issue 13).

One table per kind maps each primary name to its snippet's `args`; a name registered without an entry fails
`test_every_registered_name_has_an_entry`. The samples: a 3-D `(1, 16, 16, 16)` float image with a non-identity
affine and a uint8 box label (2-D `(1, 16, 16)` where a transform is 2-D only), tiny networks and batches.
A multi-channel field is written whole (the last test).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from clara_tlt.factory.registry import build, catalogue
from clara_tlt.io.arrays import read_array
from clara_tlt.synthetic.dicom import write_dicom_series
from clara_tlt.transforms import set_random_state
from tests.catalogue.test_crop_transforms import assert_same_window
from tests.catalogue.test_registered import NETWORKS, one_step, probabilities_and_labels
from tests.catalogue.test_remaining import write_png_datalist

WHERE = {"file": "config_train.json", "key_path": "train.x"}
AFFINE = torch.tensor(
    [[1.5, 0, 0, -10.0], [0, 1.5, 0, 5.0], [0, 0, 2.0, 3.0], [0, 0, 0, 1]], dtype=torch.float64
)
BOX = (0, slice(5, 11), slice(6, 12), slice(4, 10))  # the label's 6³ box of 1
Sample = dict[str, Any]
Check = Callable[[Any, Sample, Path], bool]


def meta(array: torch.Tensor, affine: torch.Tensor = AFFINE, channel_dim: Any = 0) -> MetaTensor:
    return MetaTensor(
        array, affine=affine.clone(), meta={"channel_dim": channel_dim, "filename_or_obj": "/d/case_1.nii.gz"}
    )


def volume(stray: bool = False) -> Sample:
    """image `(1, 16, 16, 16)` float, label uint8 with one box (plus one stray voxel), `extra` left alone."""
    image = torch.rand(1, 16, 16, 16, generator=torch.Generator().manual_seed(0)) * 100
    label = torch.zeros(1, 16, 16, 16, dtype=torch.uint8)
    label[BOX] = 1
    if stray:
        label[0, 14, 14, 14] = 1
    return {"image": meta(image), "label": meta(label), "extra": torch.arange(4.0)}


def with_scores() -> Sample:
    """`volume()` plus `model`: softmax scores `(2, 16, 16, 16)` that agree with the label, identity affine."""
    sample = volume()
    one_hot = torch.nn.functional.one_hot(sample["label"].as_tensor()[0].long(), 2).movedim(-1, 0)
    sample["model"] = meta((one_hot.float() * 4).softmax(0), affine=torch.eye(4, dtype=torch.float64))
    return sample


def plane() -> Sample:
    image = meta(torch.arange(256.0).reshape(1, 16, 16))
    label = meta((torch.arange(256).reshape(1, 16, 16) % 16 < 5).to(torch.uint8))
    return {"image": image, "label": label, "extra": torch.arange(4.0)}


def halved() -> Sample:
    spec = {"name": "ScaleByFactor", "args": {"fields": ["image", "label"], "factor": 0.5}}
    return build(spec, "transform", **WHERE)(volume())


SAMPLES: dict[str, Callable[[], Sample]] = {
    "volume": volume,
    "stray": lambda: volume(stray=True),
    "scores": with_scores,
    "plane": plane,
    "halved": halved,
    "no_channel": lambda: {"image": meta(volume()["image"][0], channel_dim="no_channel")},
    "batch": lambda: {"image": MetaTensor(torch.arange(384.0).reshape(2, 3, 1, 4, 4, 4))},
}


def files(tmp: Path) -> Sample:
    sample = volume()
    for key in ("image", "label"):
        nib.save(nib.Nifti1Image(sample[key].numpy()[0], AFFINE.numpy()), tmp / f"{key}.nii.gz")
    return {
        "image": str(tmp / "image.nii.gz"),
        "label": str(tmp / "label.nii.gz"),
        "extra": torch.arange(4.0),
    }


def same(a: Any, b: Any) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return bool(a == b)
    return torch.equal(torch.as_tensor(a), torch.as_tensor(b))


def aligned(out: Any, source: Sample) -> bool:
    """Each crop's image and label are the source's voxels under one window, which their affines name."""
    for crop in out if isinstance(out, list) else [out]:
        assert_same_window(crop, source, ("image", "label"))
    return True


def resampled(out: Sample, source: Sample, mean_within: float = 0.5) -> bool:
    """After a resampling the label is still a 0/1 uint8 map with foreground, the image about as bright."""
    label = out["label"]
    kept = label.dtype == torch.uint8 and set(label.unique().tolist()) == {0, 1}
    return kept and abs(float(out["image"].mean() - source["image"].mean())) < mean_within


def only_files(folder: Path, suffix: str) -> bool:
    """Something was written under `folder`, and no temporary file is left beside it."""
    written = [p for p in folder.rglob("*") if p.is_file()]
    return bool(written) and all(p.name.endswith(suffix) for p in written)


IMAGE, LABEL, BOTH = ["image"], ["label"], ["image", "label"]
CUBE, EIGHT = (1, 16, 16, 16), (1, 8, 8, 8)
# name → (args, sample, fields it changes, their shape or None)
TRANSFORMS: dict[str, tuple[dict[str, Any], str, list[str], tuple[int, ...] | None]] = {
    "AddExtremePointsChannel": ({"sigma": 1}, "volume", IMAGE, (2, 16, 16, 16)),
    "AddGaussianNoise": ({"fields": "image", "std": 1.0}, "volume", IMAGE, CUBE),
    "AdjustContrast": ({"fields": "image", "gamma_range": [2, 2]}, "volume", IMAGE, CUBE),
    "ArgmaxAcrossChannels": ({"fields": "model"}, "scores", ["model"], CUBE),
    "CenterData": ({"fields": "image"}, "volume", IMAGE, CUBE),
    "ConvertToChannelsFirst": ({"fields": "image"}, "no_channel", IMAGE, CUBE),
    "ConvertToChannelsLast": ({"fields": "image"}, "volume", IMAGE, (16, 16, 16, 1)),
    "ConvertToMultiChannelBasedOnBratsClasses": ({"fields": "label"}, "volume", LABEL, (3, 16, 16, 16)),
    "ConvertToMultiChannelBasedOnLabel": (
        {"fields": "label", "num_classes": 2},
        "volume",
        LABEL,
        (2, 16, 16, 16),
    ),
    "CopyProperties": (
        {"fields": "model", "from_field": "image", "properties": ["affine"]},
        "scores",
        ["model"],
        (2, 16, 16, 16),
    ),
    "CropByPosNegRatio": ({"fields": BOTH, "size": [8, 8, 8], "batch_size": 2}, "volume", BOTH, EIGHT),
    "CropByPosNegRatioLabelOnly": ({"size": [8, 8, 8], "batch_size": 2}, "volume", LABEL, EIGHT),
    "CropFixedSizeRandomCenter": ({"fields": BOTH, "size": [8, 8, 8]}, "volume", BOTH, EIGHT),
    "CropForegroundObject": ({"size": [8, 8, 8]}, "volume", BOTH, EIGHT),
    "CropRandomSizeWithDisplacement": ({"fields": BOTH, "lower_size": 0.5}, "volume", BOTH, None),
    "CropSubVolumeCenter": ({"fields": BOTH, "size": [8, 8, 8]}, "volume", BOTH, EIGHT),
    "CropSubVolumePosNegRatioCtrlEpoch": (
        {"size": [4, 4, 4], "ratio_start": 1e9},
        "volume",
        BOTH,
        (1, 4, 4, 4),
    ),
    "CropSubVolumeRandomWithinBounds": ({"fields": BOTH, "size": [8, 8, 8]}, "volume", BOTH, EIGHT),
    "FastCropByPosNegRatio": ({"fields": BOTH, "size": [8, 8, 8], "batch_size": 2}, "volume", BOTH, EIGHT),
    "FastPosNegRatioCropROI": ({"size": [8, 8, 8]}, "volume", BOTH, EIGHT),
    "FetchExtremePoints": ({"label_field": "label"}, "volume", [], None),
    "FlipAxisRandom": ({"fields": BOTH, "axis": [0], "probability": 1.0}, "volume", BOTH, CUBE),
    "KeepLargestCC": ({"fields": "label"}, "stray", LABEL, CUBE),
    "Load3DShapeFromNumpy": ({"fields": "image"}, "volume", [], None),
    "LoadNifti": ({"fields": BOTH}, "files", BOTH, (16, 16, 16)),
    "LoadResolutionFromNifty": ({"fields": "image"}, "volume", [], None),
    "MergeBatchDims": ({"fields": "image"}, "batch", IMAGE, (6, 1, 4, 4, 4)),
    "NPExpandDims": ({"fields": "image"}, "no_channel", IMAGE, CUBE),
    "NPRandomRot90_XY": ({"fields": BOTH, "probability": 1.0}, "volume", BOTH, CUBE),
    "NPRandomZoom3D": (
        {"fields": BOTH, "lower_limits": [1.5] * 3, "upper_limits": [1.5] * 3},
        "volume",
        BOTH,
        (1, 24, 24, 24),
    ),
    "NormalizeNonzeroIntensities": ({"fields": "image"}, "volume", IMAGE, CUBE),
    "RandomAxisFlip": ({"fields": BOTH, "probability": 1.0}, "volume", BOTH, CUBE),
    "RandomGaussianSmooth": ({"fields": "image", "probability": 1.0}, "volume", IMAGE, CUBE),
    "RandomMRBiasField": (
        {"fields": "image", "probability": 1.0, "coeff_range": [0.2, 0.3]},
        "volume",
        IMAGE,
        CUBE,
    ),
    "RandomRotate2D": ({"fields": BOTH, "angle": 90}, "plane", BOTH, (1, 16, 16)),
    "RandomRotate3D": ({"fields": BOTH, "probability": 1.0}, "volume", BOTH, CUBE),
    "RandomSpatialFlip": ({"fields": BOTH, "probability": 1.0}, "volume", BOTH, CUBE),
    "RandomZoom": (
        {
            "image_field": "image",
            "label_field": "label",
            "lower_limits": [1.25] * 3,
            "upper_limits": [1.25] * 3,
        },
        "volume",
        BOTH,
        CUBE,
    ),
    "RepeatChannel": ({"fields": "image", "repeat_times": 3}, "volume", IMAGE, (3, 16, 16, 16)),
    "RestoreOriginalShape": (
        {"fields": "label", "src_field": "image", "is_label": True},
        "halved",
        LABEL,
        CUBE,
    ),
    "SaveAsNifti": ({"fields": "image", "out_dir": "{out}/debug"}, "volume", [], None),
    "ScaleByFactor": ({"fields": BOTH, "factor": 0.5}, "volume", BOTH, EIGHT),
    "ScaleByResolution": ({"fields": BOTH, "target_resolution": [3, 3, 4]}, "volume", BOTH, EIGHT),
    "ScaleBySpacing": ({"fields": BOTH, "target_spacing": [3, 3, 4]}, "volume", BOTH, EIGHT),
    "ScaleIntensityOscillation": ({"fields": "image", "magnitude": 0.1}, "volume", IMAGE, CUBE),
    "ScaleIntensityRange": (
        {"fields": "image", "a_min": 0, "a_max": 100, "clip": True},
        "volume",
        IMAGE,
        CUBE,
    ),
    "ScaleShiftIntensity": ({"fields": "image"}, "volume", IMAGE, CUBE),
    "ScaleToShape": ({"fields": BOTH, "target_shape": [8, 8, 8]}, "volume", BOTH, EIGHT),
    "SplitAcrossChannels": ({"fields": "model"}, "scores", ["model0", "model1"], CUBE),
    "SplitBasedOnBratsClasses": ({"fields": "label"}, "volume", ["label_TC", "label_WT", "label_ET"], CUBE),
    "SplitBasedOnLabel": ({"fields": "label", "label_names": ["bg", "fg"]}, "volume", ["bg", "fg"], CUBE),
    "SymmetricPadderDiv": ({"fields": BOTH, "div_int": 12}, "volume", BOTH, (1, 24, 24, 24)),
    "ThresholdValues": ({"fields": "model", "threshold": 0.5}, "scores", ["model"], (2, 16, 16, 16)),
    "TransformVolumeCropROIFastPosNegRatio": (
        {"fields": BOTH, "size": [8, 8, 8], "rotation": True},
        "volume",
        BOTH,
        EIGHT,
    ),
    "WriteNiftyResults": ({"fields": "image", "write_path": "{out}"}, "volume", [], None),
}
# name → what a user relies on, given the output, the sample as it was and the test's temporary folder
CHECKS: dict[str, Check] = {
    "AddExtremePointsChannel": lambda o, s, t: same(o["image"][0], s["image"][0]),
    "AddGaussianNoise": lambda o, s, t: not same(o["image"], s["image"]),
    "AdjustContrast": lambda o, s, t: (
        float(o["image"].max()) == pytest.approx(float(s["image"].max()), rel=1e-4)
        and not same(o["image"], s["image"])
    ),
    "ArgmaxAcrossChannels": lambda o, s, t: same(o["model"], s["label"]),
    "CenterData": lambda o, s, t: abs(float(o["image"].mean())) < 1e-4,
    "ConvertToChannelsFirst": lambda o, s, t: same(o["image"][0], s["image"]),
    "ConvertToChannelsLast": lambda o, s, t: same(o["image"][..., 0], s["image"][0]),
    "ConvertToMultiChannelBasedOnBratsClasses": lambda o, s, t: same(o["label"][1], s["label"][0]),
    "ConvertToMultiChannelBasedOnLabel": lambda o, s, t: same(o["label"][1], s["label"][0]),
    "CopyProperties": lambda o, s, t: same(o["model"].affine, AFFINE),
    "CropByPosNegRatio": lambda o, s, t: aligned(o, s) and len(o) == 2,
    "CropByPosNegRatioLabelOnly": lambda o, s, t: (
        len(o) == 2 and all(same(c["image"], s["image"]) for c in o)
    ),
    "CropFixedSizeRandomCenter": lambda o, s, t: aligned(o, s),
    "CropForegroundObject": lambda o, s, t: bool(o["label"].all()),
    "CropRandomSizeWithDisplacement": lambda o, s, t: (
        aligned(o, s)
        and o["image"].shape == o["label"].shape
        and all(8 <= n <= 16 for n in o["image"].shape[1:])
    ),
    "CropSubVolumeCenter": lambda o, s, t: same(o["image"], s["image"][:, 4:12, 4:12, 4:12]),
    "CropSubVolumePosNegRatioCtrlEpoch": lambda o, s, t: aligned(o, s) and int(o["label"][0, 2, 2, 2]) == 1,
    "CropSubVolumeRandomWithinBounds": lambda o, s, t: aligned(o, s),
    "FastCropByPosNegRatio": lambda o, s, t: aligned(o, s) and len(o) == 2,
    "FastPosNegRatioCropROI": lambda o, s, t: aligned(o, s),
    "FetchExtremePoints": lambda o, s, t: sorted(map(list, o["points"]))[0][0] == 5 and len(o["points"]) == 6,
    "FlipAxisRandom": lambda o, s, t: same(o["image"], s["image"].flip(1)),
    "KeepLargestCC": lambda o, s, t: same(o["label"], volume()["label"]),
    "Load3DShapeFromNumpy": lambda o, s, t: list(o["image_shape"]) == [16, 16, 16],
    "LoadNifti": lambda o, s, t: (
        same(o["label"], volume()["label"][0])
        and same(o["image"].affine, AFFINE)
        and o["image"].meta["filename_or_obj"] == s["image"]
    ),
    "LoadResolutionFromNifty": lambda o, s, t: list(o["image_resolution"]) == [1.5, 1.5, 2.0],
    "MergeBatchDims": lambda o, s, t: same(o["image"][4], s["image"][1, 1]),
    "NPExpandDims": lambda o, s, t: same(o["image"][0], s["image"]),
    "NPRandomRot90_XY": lambda o, s, t: any(same(o["image"], s["image"].rot90(k, (1, 2))) for k in (1, 2, 3)),
    "NPRandomZoom3D": lambda o, s, t: resampled(o, s),
    "NormalizeNonzeroIntensities": lambda o, s, t: abs(float(o["image"].mean())) < 1e-4,
    "RandomAxisFlip": lambda o, s, t: any(
        same(o["image"], s["image"].flip(a)) and same(o["label"], s["label"].flip(a)) for a in (1, 2, 3)
    ),
    "RandomGaussianSmooth": lambda o, s, t: float(o["image"].std()) < float(s["image"].std()),
    "RandomMRBiasField": lambda o, s, t: not same(o["image"], s["image"]),
    "RandomRotate2D": lambda o, s, t: any(
        torch.allclose(o["image"], s["image"].rot90(k, (1, 2)), atol=1e-3) for k in (1, 3)
    ),
    "RandomRotate3D": lambda o, s, t: int(o["label"].sum()) == 216 and not same(o["image"], s["image"]),
    "RandomSpatialFlip": lambda o, s, t: same(o["label"], s["label"].flip((1, 2, 3))),
    "RandomZoom": lambda o, s, t: resampled(o, s, mean_within=5.0) and int(o["label"].sum()) > 216,
    "RepeatChannel": lambda o, s, t: same(o["image"][2], s["image"][0]),
    "RestoreOriginalShape": lambda o, s, t: same(o["label"].affine, AFFINE),
    "SaveAsNifti": lambda o, s, t: only_files(t / "debug", ".nii.gz"),
    "ScaleByFactor": lambda o, s, t: resampled(o, s),
    "ScaleByResolution": lambda o, s, t: resampled(o, s) and o["image"].pixdim.tolist() == [3, 3, 4],
    "ScaleBySpacing": lambda o, s, t: resampled(o, s) and o["label"].pixdim.tolist() == [3, 3, 4],
    "ScaleIntensityOscillation": lambda o, s, t: (
        torch.allclose(o["image"], s["image"] * float(o["image"].sum() / s["image"].sum()), rtol=1e-4)
        and 0.9 <= float(o["image"].sum() / s["image"].sum()) <= 1.1
    ),
    "ScaleIntensityRange": lambda o, s, t: float(o["image"].min()) >= 0 and float(o["image"].max()) <= 1,
    "ScaleShiftIntensity": lambda o, s, t: not same(o["image"], s["image"]),
    "ScaleToShape": lambda o, s, t: resampled(o, s),
    "SplitAcrossChannels": lambda o, s, t: same(o["model1"], s["model"][1:]),
    "SplitBasedOnBratsClasses": lambda o, s, t: same(o["label_WT"], s["label"]),
    "SplitBasedOnLabel": lambda o, s, t: same(o["fg"], s["label"]),
    "SymmetricPadderDiv": lambda o, s, t: same(o["image"][:, 4:20, 4:20, 4:20], s["image"]),
    "ThresholdValues": lambda o, s, t: same(o["model"][1:], s["label"]),
    "TransformVolumeCropROIFastPosNegRatio": lambda o, s, t: resampled(o, s, mean_within=5.0),
    "WriteNiftyResults": lambda o, s, t: Path(o["image_path"]).is_file() and only_files(t, ".nii.gz"),
}


def filled(args: dict[str, Any], data: Path, out: Path) -> dict[str, Any]:
    """`args` with "{data}" (the shared input files) and "{out}" (an empty folder) filled in."""
    text = json.dumps(args).replace("{data}", str(data)).replace("{out}", str(out))
    return dict(json.loads(text))


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_transform_runs_on_a_tiny_sample(name: str, tmp_path: Path) -> None:
    args, sample_name, changed, shape = TRANSFORMS[name]
    make = (lambda: files(tmp_path)) if sample_name == "files" else SAMPLES[sample_name]
    source, reference = make(), make()
    transform = build({"name": name, "args": filled(args, tmp_path, tmp_path)}, "transform", **WHERE)
    set_random_state(transform, 0)
    out = transform(source)
    outs = out if isinstance(out, list) else [out]
    assert outs and all(isinstance(o, dict) for o in outs)
    for each in outs:
        for key in changed:
            assert isinstance(each[key], MetaTensor), key
            assert each[key].affine.shape == (4, 4), key
            if sample_name not in ("files", "batch"):  # the writers name their files after it
                assert each[key].meta.get("filename_or_obj") == "/d/case_1.nii.gz", key
            if key == "label":  # a label map stays integer (nearest-neighbour resampling)
                assert each[key].dtype == torch.uint8, each[key].dtype
            assert shape is None or tuple(each[key].shape) == shape, (key, each[key].shape)
        for key in set(reference) - set(changed):  # what it was not told to change stays as it was
            assert same(each[key], reference[key]), key
    assert CHECKS[name](out, reference, tmp_path)


# -- the other kinds: name → snippet args (with "{data}" for the shared files, "{out}" for an empty folder) ----
def segmentation_scores() -> Sample:
    """Two cases of a 4³ box label `(1, 8, 8, 8)`; case 0 predicted exactly, case 1 one voxel off along x."""
    label = torch.zeros(2, 1, 8, 8, 8, dtype=torch.long)
    label[:, :, 2:6, 2:6, 2:6] = 1
    predicted = torch.stack([label[0], label[1].roll(1, dims=1)])
    scores = torch.nn.functional.one_hot(predicted[:, 0], 2).movedim(-1, 1).float()
    return {"model": scores, "label": label}


def classification_scores() -> Sample:
    """Scores `(3, 3)` whose argmax is each case's class, and the one-hot labels `(3, 3)`."""
    label = torch.eye(3)
    return {"model": label * 8 - 4, "label": label, "binary_preds": label * 0.8, "binary_labels": label}


def per_case(*values: float) -> Callable[[Any], bool]:
    return lambda v: v.tolist() == pytest.approx(list(values), abs=1e-6)


# name → (args, sample, the value(s) a user relies on): an aux op's per-case `(N,)`, a metric's aggregate.
# Case 1 of `segmentation_scores` overlaps 3 of 4 slices: Dice 0.75, surfaces 1 voxel (1 mm) apart at most.
METRICS: dict[str, tuple[dict[str, Any], Callable[[], Sample], Callable[[Any], bool]]] = {
    "ComputeAUC": ({"name": "auc"}, classification_scores, lambda v: v == 1.0),
    "ComputeAccuracy": ({"tag": "acc"}, classification_scores, per_case(1, 1, 1)),
    "ComputeAverage": ({"field": "acc"}, lambda: {"acc": torch.tensor([1.0, 0.5])}, lambda v: v == 0.75),
    "ComputeAverageDice": ({"name": "dice"}, segmentation_scores, lambda v: v == (1 + 0.75) / 2),
    "ComputeAverageSurfaceDistance": ({}, segmentation_scores, lambda v: 0.0 < v < (0 + 1) / 2),
    "ComputeBinaryPreds": (
        {},
        classification_scores,
        lambda v: torch.allclose(v, torch.sigmoid(classification_scores()["model"])),
    ),
    "ComputeDice": ({"tag": "dice"}, segmentation_scores, per_case(1, 0.75)),
    "ComputeHausdorffDistance95": ({}, segmentation_scores, lambda v: v == (0 + 1) / 2),
    "ComputeMulticlassAverage": ({"field": "model"}, classification_scores, lambda v: v == 1.0),
    "DiceMaskedOutput": ({"tag": "dice"}, segmentation_scores, per_case(1, 0.75)),
    "NegLoss": ({"tag": "dice"}, segmentation_scores, per_case(0, -0.25)),  # −Dice loss
    "ReduceMeanMasked": (
        {"tag": "dice", "field": "label"},
        segmentation_scores,
        per_case(1, 1),
    ),
}
AUX_OUTPUT = {"ComputeAccuracy": "acc", "ComputeBinaryPreds": "binary_preds"}  # else "dice"

LOSSES: dict[str, tuple[dict[str, Any], str]] = {  # name → (args, "segmentation" or a classification target)
    "BinaryClassificationLoss": ({}, "one_hot"),
    "CrossEntropy": ({}, "segmentation"),
    "CrossEntropyDice": ({"skip_background": True}, "segmentation"),
    "Dice": ({"skip_background": True, "squared_pred": True, "is_onehot_targets": False}, "segmentation"),
    "Focal": ({"gamma": 2.0, "alpha": [0.2, 0.4, 0.4]}, "segmentation"),
    "FocalDice": ({}, "segmentation"),
    "MulticlassClassificationLoss": ({}, "column"),
    "WeightedMulticlassClassificationLoss": ({"class_weights": [1, 2, 1]}, "index"),
}
TARGETS = {
    "one_hot": torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]),
    "column": torch.tensor([[0.0], [1.0]]),
    "index": torch.tensor([0, 1]),
}
OPTIMIZERS = {
    "Adam": {"learning_rate": 0.1},
    "Momentum": {"learning_rate": 0.1, "momentum": 0.9},
    "NovoGrad": {"learning_rate": 0.1},
}
# name → (args, the learning rate after each step, from 1)
LR_POLICIES: dict[str, tuple[dict[str, Any], list[float]]] = {
    "DecayOnStep": ({"decay_ratio": 0.5, "decay_freq": 2}, [1.0, 0.5, 0.5, 0.25]),
    "ReduceCosine": ({}, [1.0, 0.5, 0.5, 0.0]),  # 2 epochs of 2 steps, injected as the trainer does
    "ReduceOnPlateau": ({"plateau_count_trigger": 1, "reduction_rate": 0.5}, [1.0, 1.0, 0.5, 0.5]),
    "ReducePoly": ({"poly_power": 1.0, "total_steps": 4}, [0.75, 0.5, 0.25, 0.0]),
}
INFERERS = {
    "ScanWindowInferer": {"roi_size": [8, 8, 8], "batch_size": 2},
    "SimpleInferer": {},
    "TRTISScanWindowInferer": {"model_name": "tiny", "ip": "triton.local", "port": 8000},
}
WRITERS: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {  # name → (args, the suffixes it writes)
    "WriteClassificationResult": ({"field": "model", "write_path": "{out}/preds.csv"}, (".csv",)),
    "WriteDicomSeg": ({"field": "model", "write_path": "{out}", "labels": ["box"]}, (".dcm",)),
    "WriteMhd": ({"field": "model", "write_path": "{out}"}, (".mhd", ".zraw")),
    "WriteNifti": ({"field": "model", "write_path": "{out}", "dtype": "uint8"}, (".nii.gz",)),
}
MODEL_LOADERS = {  # each finds the TorchScript model the fixture saved beside the file Clara named
    "CheckpointLoader": {"checkpoint_dir": "{data}", "checkpoint_file_prefix": "model"},
    "CheckpointModelLoader": {"model_file_path": "{data}/model.ckpt"},
    "FrozenGraphModelLoader": {"model_file_path": "{data}/model.pb"},
    "ModelLoader": {"model_file_path": "{data}/model.ts"},
    "TRTISModelLoader": {"model_spec_file_name": "{data}/triton/config.pbtxt"},
}
SEGMENTATION = {"data_list_file_path": "{data}/seg/datalist.json", "output_batch_size": 2, "shuffle": False}
CLASSIFICATION = {
    "data_list_file_path": "{data}/cls/datalist.json",
    "output_batch_size": 2,
    "output_crop_size": [8, 8],
}
# name → (args, the first batch's image and label shapes)
PIPELINES: dict[str, tuple[dict[str, Any], tuple[int, ...], tuple[int, ...]]] = {
    "ClassificationImagePipeline": (CLASSIFICATION, (2, 1, 8, 8), (2, 2)),
    "ClassificationImagePipelineWithCache": (
        {**CLASSIFICATION, "num_cache_objects": 3},
        (2, 1, 8, 8),
        (2, 2),
    ),
    "SegmentationImagePipeline": (SEGMENTATION, (2, 1, 6, 6, 6), (2, 1, 6, 6, 6)),
    "SegmentationImagePipelineWithCache": (SEGMENTATION, (2, 1, 6, 6, 6), (2, 1, 6, 6, 6)),
}
HANDLERS = {"EarlyStop": {"val_times_threshold": 1}, "StatsHandler": {"log_every": 1}}
EVENTS = (
    "started",
    "epoch_started",
    "iteration_completed",
    "epoch_trained",
    "validated",
    "epoch_completed",
    "completed",
)


@dataclass(frozen=True)
class Options:
    """The trainer's options as far as handlers read them."""

    epochs: int


TABLES: dict[str, dict[str, dict[str, Any]]] = {
    "transform": {name: entry[0] for name, entry in TRANSFORMS.items()},
    "image_pipeline": {name: entry[0] for name, entry in PIPELINES.items()},
    "network": {name: entry[0] for name, entry in NETWORKS.items()},
    "loss": {name: entry[0] for name, entry in LOSSES.items()},
    "optimizer": OPTIMIZERS,
    "lr_policy": {name: entry[0] for name, entry in LR_POLICIES.items()},
    "metric": {name: entry[0] for name, entry in METRICS.items()},
    "inferer": INFERERS,
    "writer": {name: entry[0] for name, entry in WRITERS.items()},
    "model_loader": MODEL_LOADERS,
    "handler": HANDLERS,
}


def tiny_network() -> torch.nn.Module:
    """`(N, 1, *spatial)` → softmax scores `(N, 2, *spatial)`: a 1×1×1 convolution."""
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv3d(1, 2, 1), torch.nn.Softmax(dim=1)).eval()


def zeros(windows: torch.Tensor) -> torch.Tensor:
    """A network whose scores are all 0 `(N, 2, *spatial)`."""
    return torch.zeros(len(windows), 2, *windows.shape[2:])


class ServedModel(torch.nn.Module):
    """What `clara_tlt.formats.triton.triton_model` returns, standing in for a Triton server serving `tiny_network`."""

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return tiny_network()(windows)

    def window_roi(self) -> list[int]:
        return [8, 8, 8]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files snippets name: 3 volumes + datalist (seg/), 4 PNGs + datalist (cls/), a TorchScript model."""
    root = tmp_path_factory.mktemp("every_name")
    (root / "seg").mkdir()
    (root / "cls").mkdir()
    entries = []
    for i in range(3):
        for kind, array in (("i", np.full((6, 6, 6), i, np.float32)), ("l", np.ones((6, 6, 6), np.uint8))):
            nib.save(nib.Nifti1Image(array, AFFINE.numpy()), root / "seg" / f"{kind}{i}.nii.gz")
        entries.append({"image": f"i{i}.nii.gz", "label": f"l{i}.nii.gz"})
    (root / "seg" / "datalist.json").write_text(json.dumps({"training": entries}))
    write_png_datalist(root / "cls", 4)
    write_dicom_series(np.zeros((16, 16, 16), np.int16), root / "dicom", spacing=(1.5, 1.5, 2.0))
    (root / "triton" / "1").mkdir(parents=True)
    for folder in (root, root / "triton" / "1"):
        torch.jit.script(tiny_network()).save(str(folder / "model.ts"))
    return root


def make(kind: str, name: str, data: Path, out: Path, *, called: str = "", **given: Any) -> Any:
    """Build `name` of `kind` (spelt `called` in the config, when given) from its table's snippet, with what
    the engines inject for that kind (`given` replaces a default)."""
    args = filled(TABLES[kind][name], data, out)
    inject = {**injected(kind, name), **given}
    return build({"name": called or name, "args": args}, kind, **WHERE, inject=inject)


def injected(kind: str, name: str) -> dict[str, Any]:
    """What the workflow hands a component of `kind` besides its config args (as in `engines.workflow`)."""
    if kind == "optimizer":
        return {"params": [torch.nn.Parameter(torch.ones(1))]}
    if kind == "lr_policy":
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=1.0)
        return {"optimizer": optimizer, "epochs": 2, "steps_per_epoch": 2}
    if kind == "metric":
        return {"loss": build({"name": "Dice", "args": {"skip_background": True}}, "loss", **WHERE)}
    if kind == "image_pipeline":
        loader, fields = ("LoadNifti", BOTH) if name.startswith("Segmentation") else ("LoadPng", IMAGE)
        steps = (loader, "ConvertToChannelsFirst")
        specs = [{"name": step, "args": {"fields": fields}} for step in steps]
        return {"transforms": [build(spec, "transform", **WHERE) for spec in specs]}
    return {}


def test_every_registered_name_has_an_entry() -> None:
    for kind, table in TABLES.items():
        registered = {entry.name for entry in catalogue(kind)}
        assert not registered - set(table), f"{kind}: add an entry for {sorted(registered - set(table))}"
        assert not set(table) - registered, f"{kind}: {sorted(set(table) - registered)} no longer registered"
    assert {entry.kind for entry in catalogue()} <= set(TABLES)
    assert set(CHECKS) == set(TRANSFORMS)


ALIASES = [(e.kind, e.name, alias) for e in catalogue() for alias in e.aliases]


@pytest.mark.parametrize(("kind", "name", "alias"), ALIASES, ids=[a for _, _, a in ALIASES])
def test_an_alias_builds_what_its_name_builds(
    kind: str, name: str, alias: str, data: Path, tmp_path: Path
) -> None:
    assert type(make(kind, name, data, tmp_path, called=alias)) is type(make(kind, name, data, tmp_path))


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_network_gives_its_documented_output_shape(name: str, data: Path, tmp_path: Path) -> None:
    _, in_shape, out_shape = NETWORKS[name]
    network = make("network", name, data, tmp_path).eval()
    with torch.no_grad():
        out = network(torch.rand(in_shape))
    assert out.shape == out_shape and bool(out.isfinite().all())


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_is_a_finite_scalar_with_a_gradient(name: str, data: Path, tmp_path: Path) -> None:
    loss = make("loss", name, data, tmp_path)
    target = LOSSES[name][1]
    if target == "segmentation":
        _, labels = probabilities_and_labels()
        logits = torch.randn(2, 3, 4, 4, 4, generator=torch.Generator().manual_seed(0), requires_grad=True)
        value = loss(logits.softmax(dim=1), labels)
    else:
        logits = torch.randn(2, 3, generator=torch.Generator().manual_seed(0), requires_grad=True)
        value = loss(logits, TARGETS[target])
    value.backward()
    assert value.ndim == 0 and bool(value.isfinite())
    assert (
        logits.grad is not None and bool(logits.grad.isfinite().all()) and float(logits.grad.abs().sum()) > 0
    )


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_step_moves_the_weight_downhill(name: str) -> None:
    assert one_step({"name": name, "args": OPTIMIZERS[name]}) < 1.0


@pytest.mark.parametrize("name", sorted(LR_POLICIES))
def test_lr_policy_sets_the_documented_rates(name: str, data: Path, tmp_path: Path) -> None:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=1.0)
    policy = make("lr_policy", name, data, tmp_path, optimizer=optimizer)
    rates = []
    for _ in LR_POLICIES[name][1]:
        optimizer.step()
        policy.step(0.5) if getattr(policy, "steps_on_metric", False) else policy.step()
        rates.append(optimizer.param_groups[0]["lr"])
    assert rates == pytest.approx(LR_POLICIES[name][1], abs=1e-9)


@pytest.mark.parametrize("name", sorted(METRICS))
def test_metric_or_aux_op_scores_a_tiny_batch(name: str, data: Path, tmp_path: Path) -> None:
    _, sample, expected = METRICS[name]
    built = make("metric", name, data, tmp_path)
    if hasattr(built, "aggregate"):  # a metric: reset, update per batch, aggregate
        built.reset()
        built.update(sample())
        value = built.aggregate()
        assert isinstance(value, float) and expected(value), value
    else:  # an aux op: the sample with a per-case value added
        out = built(sample())
        value = out[AUX_OUTPUT.get(name, "dice")]
        assert value.shape[0] == len(out["model"]) and bool(value.isfinite().all()) and expected(value), value


@pytest.mark.parametrize("name", sorted(INFERERS))
def test_inferer_gives_the_networks_scores_over_the_whole_image(
    name: str, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    network, image = tiny_network(), torch.rand(1, 1, 16, 16, 12)
    servers: list[Any] = []
    if name == "TRTISScanWindowInferer":  # the served model is the model: a stand-in for the Triton server
        monkeypatch.setattr(
            "clara_tlt.formats.triton.triton_model", lambda server: servers.append(server) or ServedModel()
        )
        network = zeros  # the engine's network: not used
    out = make("inferer", name, data, tmp_path)(image, network)
    with torch.no_grad():
        expected = tiny_network()(image)
    assert out.shape == (1, 2, 16, 16, 12) and torch.allclose(out, expected, atol=1e-5)
    assert all(server["ip"] == "triton.local" and server["model_name"] == "tiny" for server in servers)


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_writer_writes_its_file_atomically(name: str, data: Path, tmp_path: Path) -> None:
    scores = torch.tensor([0.9, 0.1]) if name == "WriteClassificationResult" else volume()["label"]
    image = volume()["image"]
    if name == "WriteDicomSeg":  # a SEG joins the study of the DICOM series the image was read from
        image.meta["filename_or_obj"] = str(data / "dicom")
    out = make("writer", name, data, tmp_path)({"image": image, "model": scores})
    assert Path(out["model_path"]).is_file()
    written = [p.name for p in tmp_path.rglob("*") if p.is_file()]
    assert written and all(p.endswith(WRITERS[name][1]) for p in written), written  # no temporary file left


@pytest.mark.parametrize("name", sorted(MODEL_LOADERS))
def test_model_loader_loads_the_saved_tiny_model(name: str, data: Path, tmp_path: Path) -> None:
    loaded = make("model_loader", name, data, tmp_path).load(device=torch.device("cpu"))
    image = torch.rand(1, 1, 4, 4, 4)
    with torch.no_grad():
        assert loaded.model_format == "torchscript" and torch.allclose(
            loaded.network(image), tiny_network()(image)
        )


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_pipeline_yields_batches_of_image_and_label(name: str, data: Path, tmp_path: Path) -> None:
    pipeline = make("image_pipeline", name, data, tmp_path)
    set_random_state(pipeline, 0)
    batch = next(iter(pipeline))
    _, image_shape, label_shape = PIPELINES[name]
    assert tuple(batch["image"].shape) == image_shape and tuple(batch["label"].shape) == label_shape
    assert batch["image"].dtype == torch.float32
    getattr(pipeline, "close", lambda: None)()


@pytest.mark.parametrize("name", sorted(HANDLERS))
def test_handler_acts_on_trainer_events(
    name: str, data: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    handler = make("handler", name, data, tmp_path)
    state = SimpleNamespace(epoch=1, iteration=1, last_loss=0.25, metrics={"dice": 0.5}, improved=False)
    ended: list[int] = []
    trainer: Any = SimpleNamespace(
        options=Options(epochs=10),
        state=state,
        epoch_mean_loss=0.3,
        end_after_epoch=lambda: ended.append(state.epoch),
    )
    with caplog.at_level(logging.INFO, logger="clara_tlt.train"):
        for event in EVENTS:
            getattr(handler, event)(trainer)
    if name == "EarlyStop":
        assert ended == [1]  # one validation without a better metric ends training after it
    else:
        assert caplog.messages[:2] == [
            "epoch 2 iteration 1: Loss 0.2500",
            "epoch 1: mean Loss 0.3000, dice 0.5000",
        ]


@pytest.mark.parametrize(
    ("kind", "name", "field"),
    [
        ("writer", "WriteNifti", "model"),
        ("writer", "WriteMhd", "model"),
        ("transform", "WriteNiftyResults", "image"),
        ("transform", "SaveAsNifti", "image"),
    ],
)
def test_a_multi_channel_field_is_written_whole(
    kind: str, name: str, field: str, data: Path, tmp_path: Path
) -> None:
    """A 3-channel field `(3, 16, 16, 16)` is written as one file holding every channel (MONAI's SaveImage
    writes channels last)."""
    sample = volume()
    sample["image"] = meta(torch.rand(3, 16, 16, 16, generator=torch.Generator().manual_seed(0)))
    sample["model"] = meta((sample["image"].as_tensor() > 0.5).to(torch.uint8))
    if kind == "writer":
        make(kind, name, data, tmp_path)(sample)
    else:
        build({"name": name, "args": filled(TRANSFORMS[name][0], data, tmp_path)}, kind, **WHERE)(sample)
    written = [p for p in tmp_path.rglob("*") if p.is_file() and not p.name.endswith(".zraw")]
    assert len(written) == 1, written
    array, affine = read_array(written[0])  # channels last, as the loaders read a 4-D NIfTI / vector image
    expected = sample[field].as_tensor().numpy()
    assert array.shape == (16, 16, 16, 3)
    np.testing.assert_allclose(np.moveaxis(array, -1, 0), expected, rtol=1e-6)
    np.testing.assert_allclose(affine, sample[field].affine.numpy(), atol=1e-5)
