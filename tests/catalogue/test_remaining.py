"""Names the first pass of issue 13 left: DiceMaskedOutput, ComputeMulticlassAverage, WriteClassificationResult,
ClassificationImagePipelineWithCache (and its Keras twin), each built from a config snippet and run on a tiny
sample; `clara-tlt --list-components`."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from PIL import Image

from clara_tlt.errors import ConfigError
from clara_tlt.factory.registry import build
from tests.test_cli import invoke_streams

WHERE = {"file": "config_validation.json", "key_path": "validate.x"}


def test_dice_masked_output_ignores_unlabelled_voxels() -> None:
    op = build({"name": "DiceMaskedOutput", "args": {"tag": "dm"}}, "metric", **WHERE)
    label = torch.tensor([1, 1, 0, 0, -1, -1]).reshape(1, 1, 6)
    right = torch.tensor([1, 1, 0, 0, 0, 0])  # wrong only where the label is unknown
    wrong = torch.tensor([1, 0, 1, 0, 1, 1])
    logits = torch.stack([torch.nn.functional.one_hot(p, 2).T.float() for p in (right, wrong)])
    out = op({"model": logits, "label": torch.cat([label, label])})
    # case 0: perfect on known voxels; case 1: 1 of 2 foreground hits + 1 false positive → 2·1/(2+2)
    assert torch.allclose(out["dm"], torch.tensor([1.0, 0.5]))
    with_background = build(
        {"name": "DiceMaskedOutput", "args": {"skip_background": False}}, "metric", **WHERE
    )
    assert float(with_background({"model": logits[:1], "label": label})["dice_masked"][0]) == 1.0


def test_dice_masked_output_thresholds_a_single_channel() -> None:
    op = build({"name": "DiceMaskedOutput"}, "metric", **WHERE)
    out = op({"model": torch.tensor([[[0.9, 0.2, 0.7, 0.1]]]), "label": torch.tensor([[[1, 0, 0, -1]]])})
    assert float(out["dice_masked"][0]) == pytest.approx(2 / 3)


def test_compute_multiclass_average_averages_recall_over_classes() -> None:
    spec = {
        "name": "ComputeMulticlassAverage",
        "args": {"name": "bal_acc", "field": "model", "label_field": "label"},
    }
    metric = build(spec, "metric", **WHERE)
    scores = torch.eye(3)[[0, 0, 0, 1, 2, 2]]  # predicted classes 0 0 0 1 2 2
    labels = torch.eye(3)[[0, 0, 1, 1, 2, 2]]  # true classes      0 0 1 1 2 2
    metric.reset()
    metric.update({"model": scores[:4], "label": labels[:4]})
    metric.update({"model": scores[4:], "label": labels[4:].argmax(1)})  # class indices are read too
    assert metric.aggregate() == pytest.approx((1 + 0.5 + 1) / 3)
    for average, expected in (("micro", 5 / 6), ("weighted", 5 / 6)):
        other = build(
            {"name": "ComputeMulticlassAverage", "args": {"auc_average": average}}, "metric", **WHERE
        )
        other.update({"model": scores, "label": labels})
        assert other.aggregate() == pytest.approx(expected)
    one = build({"name": "ComputeMulticlassAverage", "args": {"label_index": 1}}, "metric", **WHERE)
    one.update({"model": scores, "label": labels})
    assert one.aggregate() == 0.5
    with pytest.raises(ConfigError, match="auc_average must be"):
        build({"name": "ComputeMulticlassAverage", "args": {"auc_average": "mean"}}, "metric", **WHERE)


def test_write_classification_result_writes_a_row_per_case(tmp_path: Path) -> None:
    target = tmp_path / "eval" / "preds.csv"
    spec = {"name": "WriteClassificationResult", "args": {"field": "model", "write_path": str(target)}}
    writer = build(spec, "writer", **WHERE)
    for name, scores in (("a.png", [0.9, 0.1]), ("b.png", [0.2, 0.8])):
        image = MetaTensor(torch.zeros(1, 4, 4), meta={"filename_or_obj": f"/data/{name}"})
        out = writer({"image": image, "model": torch.tensor(scores)})
        assert out["model_path"] == str(target)
    rows = list(csv.reader(target.open()))
    assert rows == [
        ["image", "model_0", "model_1"],
        ["/data/a.png", "0.9", "0.1"],
        ["/data/b.png", "0.2", "0.8"],
    ]
    assert [p.name for p in target.parent.iterdir()] == ["preds.csv"]  # no temporary file left
    in_folder = build(
        {"name": "WriteClassificationResult", "args": {"field": "model"}},
        "writer",
        **WHERE,
        inject={"write_path": str(tmp_path / "eval")},
    )  # as the workflow gives it
    in_folder({"image": image, "model": torch.tensor([0.5, 0.5])})
    assert (tmp_path / "eval" / "classification_result.csv").read_text().endswith("/data/b.png,0.5,0.5\n")


def write_png_datalist(folder: Path, count: int) -> Path:
    entries = []
    for i in range(count):
        Image.fromarray(np.full((8, 8), 10 * i, dtype=np.uint8)).save(folder / f"x{i}.png")
        entries.append({"image": f"x{i}.png", "label": [i % 2, 1 - i % 2]})
    (folder / "datalist.json").write_text(json.dumps({"training": entries}))
    return folder / "datalist.json"


@pytest.mark.parametrize(
    "name", ["ClassificationImagePipelineWithCache", "ClassificationKerasImagePipelineWithCache"]
)
def test_cached_classification_pipeline_batches_like_the_classification_pipeline(
    tmp_path: Path, name: str
) -> None:
    datalist = write_png_datalist(tmp_path, 4)
    transforms = [
        build({"name": "LoadPng", "args": {"fields": ["image", "label"]}}, "transform", **WHERE),
        build({"name": "NPExpandDims", "args": {"fields": "image"}}, "transform", **WHERE),
    ]
    args = {"data_list_file_path": str(datalist), "output_crop_size": [8, 8], "output_batch_size": 2}
    cached = build(
        {"name": name, "args": {**args, "num_cache_objects": 3, "replace_percent": 0.5}},
        "image_pipeline",
        **WHERE,
        inject={"transforms": transforms},
    )
    plain = build(
        {"name": "ClassificationImagePipeline", "args": {**args, "shuffle": False}},
        "image_pipeline",
        **WHERE,
        inject={"transforms": transforms},
    )
    assert cached.smart and cached.cache_size == 3 and cached.replace_count == 1
    cached.set_random_state(0)
    batches = list(cached)
    assert [tuple(b["image"].shape) for b in batches] == [(2, 1, 8, 8), (1, 1, 8, 8)]  # 3 cached images
    assert batches[0]["label"].dtype == torch.float32 and batches[0]["label"].shape == (2, 2)
    first = cached.cached_entries()
    cached.set_epoch(1)
    list(cached)
    assert cached.cached_entries() != first  # the smart cache replaced one image
    cached.close()
    assert len(list(plain)) == 2 and len(cached) == 2


def test_list_components_flag_prints_the_components_command() -> None:
    code, flag_out, _ = invoke_streams("--list-components")
    assert code == 0
    _, command_out, _ = invoke_streams("components")
    assert flag_out == command_out
    assert "writer          WriteClassificationResult" in flag_out
