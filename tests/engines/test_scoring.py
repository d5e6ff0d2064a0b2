"""The one scoring step (validation during training, evaluate, infer) and the report module's place below it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch
from monai.data import MetaTensor, list_data_collate

from clara_tlt.engines import predictor, reports
from clara_tlt.engines.evaluation import Scoring
from clara_tlt.engines.validation import evaluate
from clara_tlt.metrics.segmentation import ComputeAverageDice, ComputeHausdorffDistance95


class Broken:
    """A metric that fails on its second case."""

    name = "broken"

    def __init__(self) -> None:
        self.seen = 0

    def reset(self) -> None:
        self.seen = 0

    def update(self, batch: dict) -> None:
        self.seen += 1
        if self.seen == 2:
            raise ValueError("no second case")

    def aggregate(self) -> float:
        return 0.0


def _case(value: int) -> dict:
    label = torch.zeros(1, 1, 4, 4, 4)
    label[..., :2] = 1
    return {"model": label * value, "label": label}


def test_a_case_that_fails_one_metric_is_kept_by_none() -> None:
    dice = ComputeAverageDice(name="dice")
    scoring = Scoring([dice, Broken()])
    scoring.reset()
    scoring.update(_case(1))
    with pytest.raises(ValueError, match="no second case"):
        scoring.update(_case(0))
    assert dice.case_values().values.shape[0] == 1  # the failed case left no row behind
    assert dice.aggregate() == pytest.approx(1.0)


def test_training_validation_feeds_its_aux_ops_output_to_the_metrics() -> None:
    def perfect(batch: dict) -> dict:
        return {**batch, "model": torch.cat([1 - batch["label"], batch["label"]], dim=1)}

    label = _case(1)["label"]
    result = evaluate(
        torch.nn.Conv3d(1, 2, kernel_size=1),
        [{"image": torch.ones(1, 1, 4, 4, 4), "label": label}],
        inferer=lambda image, network: network(image),
        metrics=[ComputeAverageDice(name="dice")],
        aux_ops=[perfect],
        device=torch.device("cpu"),
    )
    assert result.metrics == {"dice": pytest.approx(1.0)} and result.key_metric == "dice"


def test_reports_import_nothing_of_the_predictor() -> None:
    """The failure type lives with the reports: no circle reports → predictor → reports."""
    tree = ast.parse(Path(reports.__file__).read_text())
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert reports.CaseFailure is predictor.CaseFailure
    assert not [m for m in imported if m and m.startswith("clara_tlt.engines.predictor")]


def test_training_validation_measures_distances_in_mm_as_evaluate_does() -> None:
    """The validation pipeline's cases keep their affine through the Predictor: a prediction one voxel off along
    a 3 mm axis is 3 mm off (HD95), as `evaluate` reports it, not 1 voxel."""
    affine = torch.diag(torch.tensor([1.0, 1.0, 3.0, 1.0]))
    label = torch.zeros(1, 8, 8, 8)
    label[:, 2:6, 2:6, 2:6] = 1
    shifted = torch.roll(label, 1, dims=3)
    case = {
        "image": MetaTensor(torch.zeros(1, 8, 8, 8), affine=affine),
        "label": MetaTensor(label, affine=affine),
    }
    result = evaluate(
        torch.nn.Identity(),
        [list_data_collate([case])],
        inferer=lambda image, network: torch.cat([1 - shifted, shifted])[None],
        metrics=[ComputeHausdorffDistance95(name="hd95")],
        device=torch.device("cpu"),
    )
    assert result.metrics["hd95"] == pytest.approx(3.0)
