"""Clara metric and inferer names build from config specs and compute what Clara computed."""

from __future__ import annotations

import pytest
import torch

from clara_tlt.factory.registry import build
from clara_tlt.inferers import ScanWindowInferer

WHERE = {"file": "config_train.json", "key_path": "validate.metrics[0]"}


def test_average_dice_of_class_scores_against_labels() -> None:
    dice = build(
        {
            "name": "ComputeAverageDice",
            "args": {"name": "mean_dice", "is_key_metric": True, "field": "model", "label_field": "label"},
        },
        "metric",
        **WHERE,
    )
    label = torch.zeros(2, 1, 4, 4, 4, dtype=torch.long)
    label[:, :, :2] = 1  # 32 foreground voxels per case
    scores = torch.zeros(2, 2, 4, 4, 4)
    scores[0, 1] = label[0, 0].float()  # case 0 perfect
    scores[1, 1, :1] = 1.0  # case 1 finds half: dice = 2·16/(16+32) = 2/3
    dice.update({"model": scores, "label": label})
    assert dice.is_key_metric and dice.name == "mean_dice"
    assert dice.aggregate() == pytest.approx((1 + 2 / 3) / 2)
    dice.reset()
    dice.update({"model": scores[:1], "label": label[:1]})
    assert dice.aggregate() == pytest.approx(1.0)


def test_auc_per_class_and_macro() -> None:
    auc_all = build(
        {"name": "ComputeAUC", "args": {"name": "Average_AUC", "auc_average": "macro"}}, "metric", **WHERE
    )
    auc_0 = build({"name": "ComputeAUC", "args": {"name": "Nodule", "class_index": 0}}, "metric", **WHERE)
    labels = torch.tensor([[1, 0], [0, 1], [1, 1], [0, 0]], dtype=torch.float32)
    scores = torch.tensor(
        [[0.9, 0.8], [0.1, 0.3], [0.8, 0.2], [0.2, 0.1]]
    )  # class 0 perfect; class 1: 2 of 4 pairs ordered
    for metric in (auc_all, auc_0):
        metric.update({"binary_preds": scores, "binary_labels": labels})
    assert auc_0.aggregate() == pytest.approx(1.0)
    assert auc_all.aggregate() == pytest.approx((1.0 + 0.5) / 2)


def test_scan_window_inferer_covers_a_volume_larger_than_the_window() -> None:
    inferer = build(
        {"name": "TFScanWindowInferer", "args": {"roi_size": [8, 8, 8], "batch_size": 3}},
        "inferer",
        file="c.json",
        key_path="validate.inferer",
    )
    assert isinstance(inferer, ScanWindowInferer)
    volume = torch.arange(20 * 12 * 9, dtype=torch.float32).reshape(1, 1, 20, 12, 9)
    calls: list[tuple[int, ...]] = []

    def network(x: torch.Tensor) -> torch.Tensor:
        calls.append(tuple(x.shape))
        return x * 2

    out = inferer(volume, network)
    assert torch.allclose(out, volume * 2)
    assert all(shape[2:] == (8, 8, 8) and shape[0] <= 3 for shape in calls)
