"""Clara 3.1 argument spellings of metrics, aux ops and image pipelines (issue 13): each is honoured, shown on a
tiny input, or refused with a message that says what to do."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest
import torch
from PIL import Image

from clara_tlt.engines.reports import build_report, write_reports
from clara_tlt.errors import ConfigError
from clara_tlt.factory.registry import build

WHERE = {"file": "config_train.json", "key_path": "validate.metrics[0]"}


def metric(component: str, **args: Any) -> Any:
    return build({"name": component, "args": args}, "metric", **WHERE)


def scored(m: Any, *samples: dict[str, Any]) -> float:
    m.reset()
    for sample in samples:
        m.update(sample)
    return float(m.aggregate())


# -- metrics ---------------------------------------------------------------------------------------------------
def test_average_dice_remove_bg_false_scores_the_background_too() -> None:
    label = torch.tensor([[[0, 0, 1, 1]]])
    prediction = torch.tensor([[[0, 1, 1, 1]]]).float()  # a label map: used as it is
    foreground = metric("ComputeAverageDice")
    with_background = metric("ComputeAverageDice", remove_bg=False)
    assert scored(foreground, {"model": prediction, "label": label}) == pytest.approx(2 * 2 / 5)
    # background: 2·1/(1+2); foreground 4/5; mean of both
    assert scored(with_background, {"model": prediction, "label": label}) == pytest.approx(
        (2 / 3 + 4 / 5) / 2
    )
    assert with_background.case_values().columns == ["class_0", "class_1"]


def test_average_dice_thresholds_single_channel_scores_at_logit_thresh() -> None:
    label = torch.tensor([[[0, 0, 1, 1]]])
    scores = torch.tensor([[[0.1, 0.6, 0.7, 0.9]]])
    assert scored(metric("ComputeAverageDice"), {"model": scores, "label": label}) == pytest.approx(4 / 5)
    strict = metric("ComputeAverageDice", logit_thresh=0.65)
    assert scored(strict, {"model": scores, "label": label}) == pytest.approx(1.0)


def test_average_dice_reads_one_hot_targets() -> None:
    scores = torch.tensor([[[0.9, 0.8, 0.1, 0.2], [0.1, 0.2, 0.9, 0.8]]])  # classes 0 0 1 1
    one_hot = torch.tensor([[[1, 1, 0, 0], [0, 0, 1, 1]]])
    dice = metric("ComputeAverageDice", is_one_hot_targets=True)
    assert scored(dice, {"model": scores, "label": one_hot}) == pytest.approx(1.0)


def test_average_dice_is_2d_refuses_a_3d_batch() -> None:
    dice = metric("ComputeAverageDice", is_2d=True)
    flat = {"model": torch.ones(1, 2, 4, 4), "label": torch.ones(1, 1, 4, 4)}
    assert scored(dice, flat) == pytest.approx(0.0)  # 2-D: scored (everything predicted background)
    with pytest.raises(ConfigError, match="is_2d is true, but the prediction has shape"):
        dice.update({"model": torch.ones(1, 2, 4, 4, 4), "label": torch.ones(1, 1, 4, 4, 4)})


def test_every_metric_takes_do_summary_and_do_print() -> None:
    """What they do is tested end to end in test_clara3_configs.py (the trainer's log and TensorBoard)."""
    for name, args in (
        ("ComputeAverage", {}),
        ("ComputeAverageDice", {}),
        ("ComputeAUC", {}),
        ("ComputeMulticlassAverage", {}),
        ("ComputeAccuracy", {"tag": "acc"}),
    ):
        built = metric(name, **args, do_summary=False, do_print=True)
        assert getattr(built, "do_summary", False) is False


def test_compute_average_invalid_value_is_left_out_and_negate_value_flips_the_sign() -> None:
    sample = {"v": torch.tensor([0.5, -1.0, 0.7])}
    assert scored(metric("ComputeAverage", field="v", invalid_value=-1), sample) == pytest.approx(0.6)
    assert scored(metric("ComputeAverage", field="v"), {"v": torch.tensor([0.5, math.nan])}) == 0.5
    negated = metric("ComputeAverage", field="v", invalid_value=-1, negate_value=True)
    assert scored(negated, sample) == pytest.approx(-0.6)
    assert negated.case_values().values[0, 0] == pytest.approx(-0.5)


def test_auc_include_list_averages_the_listed_classes_only() -> None:
    labels = torch.tensor([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]], dtype=torch.float32)
    scores = torch.tensor([[0.9, 0.8, 0.1], [0.1, 0.3, 0.9], [0.8, 0.2, 0.8], [0.2, 0.1, 0.2]])
    sample = {"binary_preds": scores, "binary_labels": labels}
    assert scored(metric("ComputeAUC", include_list=[0]), sample) == pytest.approx(1.0)
    assert scored(metric("ComputeAUC", include_list=[0, 1]), sample) == pytest.approx(0.75)
    with pytest.raises(ConfigError, match=r"give class_index .* or include_list .*, not both"):
        metric("ComputeAUC", include_list=[0], class_index=1)


@pytest.mark.parametrize(
    ("name", "sample", "column"),
    [
        ("ComputeAverage", {"accuracy": torch.tensor([1.0, 0.0])}, "accuracy"),
        (
            "ComputeAUC",
            {"binary_preds": torch.tensor([[0.9], [0.2]]), "binary_labels": torch.tensor([[1], [0]])},
            "score_0",
        ),
        ("ComputeMulticlassAverage", {"model": torch.eye(2), "label": torch.tensor([0, 0])}, "correct"),
    ],
)
def test_report_path_is_where_the_per_case_report_goes(
    tmp_path: Path, name: str, sample: dict[str, Any], column: str
) -> None:
    m = metric(name, name="m", report_path=str(tmp_path / "reports"))
    scored(m, sample)
    report = build_report([m], ["a.nii", "b.nii"], [])
    write_reports([m], ["a.nii", "b.nii"], report, output_dir=tmp_path / "out")
    raw = (tmp_path / "reports" / "m_raw_results.txt").read_text().splitlines()
    assert raw[0] == f"# file\t{column}" and raw[1].startswith("a.nii\t") and len(raw) == 3
    assert (tmp_path / "reports" / "m_summary_results.txt").exists()
    assert not (tmp_path / "out" / "m_raw_results.txt").exists()


# -- aux ops -----------------------------------------------------------------------------------------------------
def test_dice_masked_output_tags_name_the_mean_then_each_class() -> None:
    op = metric("DiceMaskedOutput", skip_background=True, tags=["dice", "dice_a", "dice_b"])
    label = torch.tensor([[[0, 1, 1, 2, 2, -1]]])
    classes = torch.tensor([0, 1, 1, 2, 0, 2])  # class 2 half found; the unknown voxel is not counted
    out = op({"model": torch.nn.functional.one_hot(classes, 3).T[None].float(), "label": label})
    assert float(out["dice_a"][0]) == 1.0 and float(out["dice_b"][0]) == pytest.approx(2 / 3)
    assert float(out["dice"][0]) == pytest.approx((1 + 2 / 3) / 2)
    with pytest.raises(ConfigError, match="tags names 1 classes after the mean"):
        metric("DiceMaskedOutput", tags=["dice", "dice_a"])({"model": out["model"], "label": label})
    with pytest.raises(ConfigError, match=r"give tag .* or tags .*, not both"):
        metric("DiceMaskedOutput", tag="d", tags=["d"])


def test_dice_masked_output_independent_predictions_with_one_hot_targets() -> None:
    op = metric(
        "DiceMaskedOutput", is_onehot_targets=True, is_independent_predictions=True, tags=["dice", "a", "b"]
    )
    sigmoid = torch.tensor([[[0.9, 0.8, 0.2, 0.1], [0.9, 0.1, 0.1, 0.1]]])  # channels overlap: independent
    one_hot = torch.tensor([[[1, 1, 0, 0], [1, 1, 0, 0]]])
    out = op({"model": sigmoid, "label": one_hot})
    assert float(out["a"][0]) == 1.0 and float(out["b"][0]) == pytest.approx(2 / 3)  # no background skipped


def test_compute_dice_registers_per_case_dice_for_compute_average() -> None:
    op = metric("ComputeDice", is_onehot_targets=False, is_independent_predictions=False, tag="dice")
    label = torch.tensor([[[0, 0, 1, 1]], [[0, 1, 1, 1]]])
    sigmoid = torch.tensor([[[0.1, 0.2, 0.9, 0.8]], [[0.1, 0.2, 0.9, 0.8]]])
    out = op({"model": sigmoid, "label": label})
    assert torch.allclose(out["dice"], torch.tensor([1.0, 0.8]))
    assert scored(metric("ComputeAverage", field="dice"), out) == pytest.approx(0.9)
    with pytest.raises(ValueError, match="use DiceMaskedOutput"):
        op({"model": sigmoid[:1], "label": torch.tensor([[[0, -1, 1, 1]]])})
    with pytest.raises(ConfigError, match="data_format 'channels_last' cannot be honoured"):
        metric("ComputeDice", data_format="channels_last")


def test_reduce_mean_masked_averages_a_field_where_the_mask_is_set() -> None:
    op = metric("ReduceMeanMasked", tag="m", field="model", mask_field="label")
    values = torch.tensor([[[1.0, 2.0, 3.0, 4.0]], [[1.0, 2.0, 3.0, 4.0]]])
    mask = torch.tensor([[[0, 1, 1, 0]], [[0, 0, 0, 0]]])
    out = op({"model": values, "label": mask})
    assert float(out["m"][0]) == 2.5 and math.isnan(float(out["m"][1]))  # empty mask: no value
    assert scored(metric("ComputeAverage", field="m"), out) == 2.5


# -- image pipelines ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def volumes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three 6³ volumes with labels and a datalist."""
    root = tmp_path_factory.mktemp("vol")
    entries = []
    for i in range(3):
        nib.save(nib.Nifti1Image(np.full((6, 6, 6), i, np.float32), np.eye(4)), root / f"i{i}.nii.gz")
        nib.save(nib.Nifti1Image(np.ones((6, 6, 6), np.uint8), np.eye(4)), root / f"l{i}.nii.gz")
        entries.append({"image": f"i{i}.nii.gz", "label": f"l{i}.nii.gz"})
    (root / "datalist.json").write_text(json.dumps({"training": entries}))
    return root


def segmentation(root: Path, name: str = "SegmentationImagePipeline", **args: Any) -> Any:
    loaders = [
        build({"name": n, "args": {"fields": ["image", "label"]}}, "transform", file="c.json", key_path="t")
        for n in ("LoadNifti", "ConvertToChannelsFirst")
    ]
    spec = {
        "name": name,
        "args": {"data_list_file_path": str(root / "datalist.json"), "shuffle": False, **args},
    }
    return build(
        spec, "image_pipeline", file="c.json", key_path="train.image_pipeline", inject={"transforms": loaders}
    )


def test_segmentation_checks_output_image_and_label_channels(volumes: Path) -> None:
    batches = list(segmentation(volumes, output_image_channels=1, output_label_channels=1))
    assert tuple(batches[0]["image"].shape) == (1, 1, 6, 6, 6)
    with pytest.raises(ConfigError, match="label has 1 channel\\(s\\), not output_label_channels 3"):
        list(segmentation(volumes, output_label_channels=3))
    with pytest.raises(ConfigError, match="image has 1 channel\\(s\\), not output_image_channels 4"):
        list(segmentation(volumes, output_image_channels=4))


def test_segmentation_options_of_clara_31(volumes: Path) -> None:
    means = [float(b["image"].mean()) for b in segmentation(volumes)]
    threads = segmentation(volumes, multiprocessing=True, num_workers=2)
    assert [float(b["image"].mean()) for b in threads] == means == [0.0, 1.0, 2.0]
    twice = segmentation(volumes, duplicate_count=2)
    assert len(twice) == 6 and [float(b["image"].mean()) for b in twice] == means * 2
    uncached = segmentation(volumes, "SegmentationImagePipelineWithCache", caches_data=False)
    assert [float(b["image"].mean()) for b in uncached] == means and uncached.cache is None
    cached = segmentation(volumes, "SegmentationImagePipelineWithCache", caches_data=True)
    assert [float(b["image"].mean()) for b in cached] == means and cached.cache is not None
    with pytest.raises(ConfigError, match="output_data_format 'channels_last' cannot be honoured"):
        segmentation(volumes, "SegmentationImagePipelineWithCache", output_data_format="channels_last")


def classification(folder: Path, **args: Any) -> Any:
    for i in range(2):
        Image.fromarray(np.full((4, 4), 50 * i, dtype=np.uint8)).save(folder / f"x{i}.png")
    entries = [{"image": f"x{i}.png", "label": [i]} for i in range(2)]
    (folder / "datalist.json").write_text(json.dumps({"training": entries}))
    loader = build(
        {"name": "LoadPng", "args": {"fields": ["image"]}}, "transform", file="c.json", key_path="t"
    )
    spec = {
        "name": "ClassificationImagePipeline",
        "args": {"data_list_file_path": str(folder / "datalist.json"), "shuffle": False, **args},
    }
    return build(
        spec,
        "image_pipeline",
        file="c.json",
        key_path="train.image_pipeline",
        inject={"transforms": [loader]},
    )


def test_classification_honours_dtype_dims_repeat_and_duplicate_count(tmp_path: Path) -> None:
    pipeline = classification(
        tmp_path, output_image_dtype="float16", output_data_dims=2, repeat=True, duplicate_count=2
    )
    batches = list(pipeline)
    assert len(batches) == len(pipeline) == 4 and batches[0]["image"].dtype == torch.float16
    assert [float(b["image"].max()) for b in batches] == [0.0, 50.0, 0.0, 50.0]
    with pytest.raises(ConfigError, match="image has 2 spatial axes \\[4, 4\\], not output_data_dims 3"):
        list(classification(tmp_path, output_data_dims=3))
    with pytest.raises(ConfigError, match="output_image_dtype must name a dtype"):
        classification(tmp_path, output_image_dtype="f32")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"repeat": False}, 'repeat false cannot be honoured: .* set "epochs": 1'),
        ({"output_label_format": "one_hot"}, "output_label_format cannot be honoured"),
        ({"extra_inputs": ["meta"]}, "extra_inputs cannot be honoured: the network takes the image alone"),
        ({"items_per_category": [2, 2]}, "items_per_category cannot be honoured: .*balance the datalist"),
        ({"category_weights": [1.0, 3.0]}, "category_weights cannot be honoured: .*class_weights"),
    ],
)
def test_classification_refuses_what_it_cannot_honour(
    tmp_path: Path, args: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        classification(tmp_path, **args)
