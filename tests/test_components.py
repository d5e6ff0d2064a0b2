"""The component factory: registered names, TLT aliases, class paths, MONAI/torch fallback, EA form, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from monai.losses import DiceLoss
from monai.transforms import ScaleIntensityRanged

from clara_tlt.components import build, normalize_spec
from clara_tlt.errors import ConfigError

WHERE = {"file": "config_train.json", "key_path": "train.loss"}


def test_registered_name_maps_clara_arguments() -> None:
    loss = build({"name": "Dice", "args": {"skip_background": True, "smooth": 1e-3}}, "loss", **WHERE)
    assert isinstance(loss, DiceLoss)
    assert loss.include_background is False and loss.smooth_dr == 1e-3 and loss.to_onehot_y is True


def test_tlt_alias_with_prefix_reaches_the_same_component() -> None:
    assert isinstance(build({"name": "losses.dice_loss"}, "loss", **WHERE), DiceLoss)
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    policy = build(
        {"name": "lr_policy.DecayLRonStep", "decay_ratio": 0.5, "decay_freq": 2},
        "lr_policy",
        file="c.json",
        key_path="train.lr_policy",
        inject={"optimizer": optimizer},
    )
    for _ in range(2):
        optimizer.step()
        policy.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.5)


def test_monai_class_by_exact_name_clara_4_style() -> None:
    transform = build(
        {
            "name": "ScaleIntensityRanged",
            "args": {"keys": "image", "a_min": 0, "a_max": 10, "b_min": 0, "b_max": 1},
        },
        "transform",
        file="c.json",
        key_path="train.pre_transforms[0]",
    )
    assert isinstance(transform, ScaleIntensityRanged)
    assert float(transform({"image": torch.tensor([5.0])})["image"][0]) == pytest.approx(0.5)


def test_optimizer_gets_parameters_and_global_learning_rate_injected() -> None:
    model = torch.nn.Linear(3, 1)
    adam = build(
        {"name": "Adam"},
        "optimizer",
        file="c.json",
        key_path="train.optimizer",
        inject={"params": model.parameters(), "lr": 1e-4},
    )
    assert isinstance(adam, torch.optim.Adam) and adam.param_groups[0]["lr"] == 1e-4
    sgd = build(
        {"name": "SGD", "args": {"momentum": 0.9}},
        "optimizer",
        file="c.json",
        key_path="train.optimizer",
        inject={"params": model.parameters(), "lr": 1e-2},
    )
    assert isinstance(sgd, torch.optim.SGD) and sgd.param_groups[0]["momentum"] == 0.9


def test_class_path_from_the_mmar_custom_folder(tmp_path: Path) -> None:
    custom = tmp_path / "custom"
    custom.mkdir()
    (custom / "my_losses_for_test.py").write_text(
        "class HalfLoss:\n    def __init__(self, weight=0.5):\n        self.weight = weight\n"
    )
    loss = build(
        {"path": "my_losses_for_test.HalfLoss", "args": {"weight": 0.25}},
        "loss",
        search_dirs=[custom],
        **WHERE,
    )
    assert type(loss).__name__ == "HalfLoss" and loss.weight == 0.25


def test_unknown_name_gives_did_you_mean_and_accepted_names() -> None:
    with pytest.raises(ConfigError) as info:
        build({"name": "Dcie"}, "loss", **WHERE)
    message = str(info.value)
    assert message.startswith("config_train.json: train.loss.name: unknown loss 'Dcie'; did you mean 'Dice'")
    assert "Accepted names: BinaryClassificationLoss, Dice" in message
    assert info.value.exit_code == 3


def test_unknown_argument_names_the_argument_and_the_accepted_ones() -> None:
    with pytest.raises(
        ConfigError,
        match=r"train\.loss\.args\.smoth: loss 'Dice' has no argument 'smoth'; did you mean 'smooth'",
    ):
        build({"name": "Dice", "args": {"smoth": 1}}, "loss", **WHERE)


def test_ea_form_takes_arguments_beside_name_and_tag_as_name() -> None:
    spec = normalize_spec(
        {"name": "MetricAverageFromArrayDice", "tag": "mean_dice", "applied_key": "model"},
        file="c.json",
        key_path="train.metrics[0]",
    )
    assert spec.name == "MetricAverageFromArrayDice"
    assert spec.args == {"name": "mean_dice", "applied_key": "model"}


def test_spec_needs_exactly_one_of_name_and_path() -> None:
    with pytest.raises(ConfigError, match='exactly one of "name"'):
        build({"name": "Dice", "path": "x.Y"}, "loss", **WHERE)
    with pytest.raises(ConfigError, match='exactly one of "name"'):
        build({"args": {}}, "loss", **WHERE)


def test_bad_class_path_says_where_to_put_the_code() -> None:
    with pytest.raises(
        ConfigError, match=r"train\.loss\.path: cannot import module 'no_such_module'.*custom/ or lib/"
    ):
        build({"path": "no_such_module.Loss"}, "loss", **WHERE)


def test_networks_build_with_clara_arguments_and_final_activation() -> None:
    net = build(
        {"name": "SegmAhnet3D", "args": {"num_classes": 3, "final_activation": "softmax"}},
        "network",
        file="c.json",
        key_path="net_config",
    )
    with torch.no_grad():
        out = net.eval()(torch.zeros(1, 1, 32, 32, 32))
    assert out.shape == (1, 3, 32, 32, 32)
    assert torch.allclose(out.sum(dim=1), torch.ones(1, 32, 32, 32), atol=1e-5)


def test_missing_pretrained_weights_say_how_to_train_from_scratch(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"train\.model\.args: pretrained weights .* not found.*\"\" to train from scratch"
    ):
        build(
            {"name": "SegAhnet", "args": {"pretrain_weight_name": str(tmp_path / "w.pt")}},
            "network",
            file="c.json",
            key_path="train.model",
        )
