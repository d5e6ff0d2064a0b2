"""AddExtremePointsChannel as validation uses it: without perturbation the points do not depend on chance."""

from __future__ import annotations

import torch
from tests.transforms.test_transform_semantics import box_label, t, volume

from clara_tlt.transforms import set_random_state


def test_unperturbed_points_are_the_same_whatever_the_random_state() -> None:
    """A box has many voxels tied on each face; with `pert=0` the channel must not draw among them, or
    evaluating one checkpoint twice gives two Dice values."""
    heatmaps = []
    for seed in (1, 2, 3):
        add = t("AddExtremePointsChannel", image_field="image", label_field="label", sigma=1.0, pert=0)
        set_random_state([add], seed)
        heatmaps.append(add({"image": volume(), "label": box_label()})["image"][1])
    assert all(torch.equal(heatmaps[0], other) for other in heatmaps[1:])

    fetched = t("FetchExtremePoints", image_field="image", label_field="label")({"label": box_label()})
    clicked = t("AddExtremePointsChannel", points_field="points", sigma=1.0)  # the points a client sends
    from_clicks = clicked({"image": volume(), "points": fetched["points"]})["image"][1]
    assert torch.allclose(from_clicks, heatmaps[0])
