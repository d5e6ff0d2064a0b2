"""Every name registered for issue 13's kinds builds from a config snippet and runs on a tiny sample."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from clara_tlt.errors import ConfigError
from clara_tlt.factory.registry import build, catalogue

WHERE = {"file": "config_train.json", "key_path": "train.x"}
KINDS = ("loss", "optimizer", "lr_policy", "network", "handler")


def probabilities_and_labels() -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax outputs `(2, 3, 4, 4, 4)` that lean towards the labels `(2, 1, 4, 4, 4)`."""
    labels = torch.randint(0, 3, (2, 1, 4, 4, 4), generator=torch.Generator().manual_seed(0))
    logits = torch.nn.functional.one_hot(labels[:, 0], 3).movedim(-1, 1).float() * 2
    return logits.softmax(dim=1), labels


def check_segmentation_loss(name: str, args: dict[str, Any]) -> None:
    loss = build({"name": name, "args": args}, "loss", **WHERE)
    good, labels = probabilities_and_labels()
    bad = good.flip(1)
    assert loss(good, labels) < loss(bad, labels)  # better predictions, lower loss
    assert loss(good, labels).ndim == 0


def check_classification_loss(name: str, args: dict[str, Any], targets: torch.Tensor) -> None:
    loss = build({"name": name, "args": args}, "loss", **WHERE)
    logits = torch.tensor([[4.0, -4.0, -4.0], [-4.0, 4.0, -4.0]])
    right, wrong = loss(logits, targets), loss(-logits, targets)
    assert right < wrong


def test_loss_dice() -> None:
    check_segmentation_loss("Dice", {"skip_background": True})


def test_loss_cross_entropy_matches_the_formula() -> None:
    check_segmentation_loss("CrossEntropy", {})
    p, y = probabilities_and_labels()
    loss = build({"name": "CrossEntropy", "args": {"smooth": 0.0}}, "loss", **WHERE)
    expected = -torch.log(p.gather(1, y)).mean()
    assert float(loss(p, y)) == pytest.approx(float(expected), rel=1e-5)


def test_loss_focal_with_gamma_0_is_cross_entropy_and_alpha_weighs_classes() -> None:
    check_segmentation_loss("Focal", {"gamma": 2.0, "alpha": [0.2, 0.4, 0.4]})
    p, y = probabilities_and_labels()
    focal = build({"name": "Focal", "args": {"gamma": 0}}, "loss", **WHERE)
    ce = build({"name": "CrossEntropy"}, "loss", **WHERE)
    assert float(focal(p, y)) == pytest.approx(float(ce(p, y)), rel=1e-5)
    with pytest.raises(ConfigError, match="alpha has 2 values for 3 classes"):
        build({"name": "Focal", "args": {"alpha": [1, 1]}}, "loss", **WHERE)(p, y)


@pytest.mark.parametrize(("name", "other"), [("CrossEntropyDice", "CrossEntropy"), ("FocalDice", "Focal")])
def test_combined_losses_are_the_sum_of_their_parts(name: str, other: str) -> None:
    check_segmentation_loss(name, {"skip_background": True})
    p, y = probabilities_and_labels()
    combined = build({"name": name, "args": {"skip_background": True}}, "loss", **WHERE)
    parts = [build({"name": n, "args": {"skip_background": True}}, "loss", **WHERE) for n in (other, "Dice")]
    assert float(combined(p, y)) == pytest.approx(sum(float(part(p, y)) for part in parts), rel=1e-5)


@pytest.mark.parametrize("name", ["CrossEntropy", "Dice", "FocalDice"])
def test_loss_channels_last_cannot_be_honoured(name: str) -> None:
    with pytest.raises(ConfigError, match="data_format 'channels_last' cannot be honoured"):
        build({"name": name, "args": {"data_format": "channels_last"}}, "loss", **WHERE)


def test_loss_binary_classification() -> None:
    check_classification_loss(
        "BinaryClassificationLoss", {}, torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    )


def test_loss_multiclass_classification_takes_class_indices() -> None:
    check_classification_loss("MulticlassClassificationLoss", {}, torch.tensor([[0.0], [1.0]]))


def test_loss_weighted_multiclass_classification_weighs_classes() -> None:
    check_classification_loss(
        "WeightedMulticlassClassificationLoss", {"class_weights": [1, 1, 1]}, torch.tensor([0, 1])
    )
    logits, targets = torch.zeros(2, 3), torch.tensor([0, 1])
    heavy = build(
        {"name": "WeightedMulticlassClassificationLoss", "args": {"class_weights": [1, 0, 0]}},
        "loss",
        **WHERE,
    )
    assert float(heavy(logits, targets)) == pytest.approx(math.log(3))  # only class 0's sample counts


def one_step(optimizer_spec: dict[str, Any]) -> float:
    """Build the optimizer on a 1-weight model, take one step on loss w², return the new weight (from 1)."""
    weight = torch.nn.Parameter(torch.ones(1))
    optimizer = build(optimizer_spec, "optimizer", **WHERE, inject={"params": [weight], "lr": 0.1})
    (weight**2).sum().backward()
    optimizer.step()
    return float(weight.detach())


@pytest.mark.parametrize("name", ["Adam", "Momentum", "NovoGrad"])
def test_optimizers_descend(name: str) -> None:
    assert one_step({"name": name, "args": {"learning_rate": 0.1}}) < 1.0


@pytest.mark.parametrize("name", ["Adam", "Momentum"])
def test_tensorflows_use_locking_and_name_step_the_same(name: str) -> None:
    plain = one_step({"name": name, "args": {"learning_rate": 0.1}})
    tf_args = {"learning_rate": 0.1, "use_locking": True, "name": "opt"}
    assert one_step({"name": name, "args": tf_args}) == plain


def test_novograd_is_monais_with_claras_betas() -> None:
    weight = torch.nn.Parameter(torch.ones(1))
    optimizer = build({"name": "NovoGrad"}, "optimizer", **WHERE, inject={"params": [weight]})
    assert type(optimizer).__name__ == "Novograd" and optimizer.defaults["betas"] == (0.95, 0.98)


def learning_rates(spec: dict[str, Any], steps: int, **inject: Any) -> list[float]:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=1.0)
    policy = build(spec, "lr_policy", **WHERE, inject={"optimizer": optimizer, **inject})
    rates = []
    for _ in range(steps):
        optimizer.step()
        policy.step()
        rates.append(optimizer.param_groups[0]["lr"])
    return rates


def test_lr_decay_on_step_and_reduce_poly() -> None:
    assert learning_rates({"name": "DecayOnStep", "args": {"decay_ratio": 0.5, "decay_freq": 2}}, 4) == [
        1.0,
        0.5,
        0.5,
        0.25,
    ]
    assert learning_rates({"name": "ReducePoly", "args": {"poly_power": 1.0, "total_steps": 4}}, 2) == [
        0.75,
        0.5,
    ]


def test_lr_reduce_cosine_follows_epochs() -> None:
    rates = learning_rates({"name": "ReduceCosine"}, 4, epochs=2, steps_per_epoch=2)
    assert rates == pytest.approx([1.0, 0.5, 0.5, 0.0], abs=1e-9)


def test_lr_reduce_on_plateau_reduces_after_the_trigger_count() -> None:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=1.0)
    spec = {"name": "ReduceOnPlateau", "args": {"plateau_count_trigger": 1, "reduction_rate": 0.5}}
    policy = build(spec, "lr_policy", **WHERE, inject={"optimizer": optimizer})
    assert policy.steps_on_metric  # the trainer steps it after each validation, not per iteration
    for metric in (0.5, 0.5, 0.5):
        policy.step(metric)
    assert optimizer.param_groups[0]["lr"] == 0.5


NETWORKS: dict[str, tuple[dict[str, Any], tuple[int, ...], tuple[int, ...]]] = {
    "Alexnet": (
        {"num_classes": 3, "num_feat": "4,4,4,4,4,8,8", "n_spatial_dim": 2, "use_group_normG": 2},
        (2, 1, 32, 32),
        (2, 3),
    ),
    "SegAhnet": ({"num_classes": 2}, (1, 1, 32, 32, 32), (1, 2, 32, 32, 32)),
    "DenseNet121": ({"num_classes": 3, "data_format": "channels_first"}, (1, 3, 32, 32), (1, 3)),
    "Unet": (
        {"num_classes": 3, "nf_enc": [4, 8], "nf_dec": [8, 4, 4]},
        (1, 1, 16, 16, 16),
        (1, 3, 16, 16, 16),
    ),
    "SegResnet": (
        {"num_classes": 2, "init_filters": 4, "blocks_down": "1,1", "blocks_up": "1", "use_group_normG": 2},
        (1, 1, 16, 16, 16),
        (1, 2, 16, 16, 16),
    ),
}


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_networks_give_softmax_or_logits_of_the_right_shape(name: str) -> None:
    args, in_shape, out_shape = NETWORKS[name]
    network = build({"name": name, "args": args}, "network", **WHERE).eval()
    with torch.no_grad():
        out = network(torch.rand(in_shape))
    assert out.shape == out_shape
    if name != "DenseNet121":  # final_activation softmax by default (DenseNet121's is linear: logits)
        assert torch.allclose(out.sum(dim=1), torch.ones(()), atol=1e-5)


def test_unet_takes_clara_width_strings_and_its_normalisation_switches() -> None:
    args = {"num_classes": 2, "nf_enc": "4,8", "nf_dec": "8,4,4", "use_batch_norm": True}
    network = build({"name": "Unet", "args": args}, "network", **WHERE)
    assert sum(isinstance(m, torch.nn.BatchNorm3d) for m in network.modules()) == 5  # one per 3×3 conv
    grouped = build(
        {"name": "Unet", "args": {**args, "use_batch_norm": False, "use_group_norm": True}},
        "network",
        **WHERE,
    )
    assert sum(isinstance(m, torch.nn.GroupNorm) for m in grouped.modules()) == 5
    with pytest.raises(ConfigError, match="use_batch_norm and use_group_norm cannot both be true"):
        build({"name": "Unet", "args": {**args, "use_group_norm": True}}, "network", **WHERE)


def test_segresnet_group_norm_fits_groups_to_narrow_layers() -> None:
    """NVIDIA's AutoML example: init_filters 2 with use_group_normG 8 (2 channels cannot hold 8 groups)."""
    args = {"init_filters": 2, "blocks_down": "1,1", "blocks_up": "1", "use_group_normG": 8}
    network = build({"name": "SegResnet", "args": args}, "network", **WHERE)
    groups = {(m.num_channels, m.num_groups) for m in network.modules() if isinstance(m, torch.nn.GroupNorm)}
    assert groups == {(2, 2), (4, 4)}
    with torch.no_grad():
        assert network(torch.rand(1, 1, 8, 8, 8)).shape == (1, 2, 8, 8, 8)


def test_unet_topology_checks_its_arguments() -> None:
    with pytest.raises(ConfigError, match=r"nf_dec needs at least as many entries as nf_enc \(3\)"):
        build({"name": "Unet", "args": {"nf_enc": [4, 4, 4], "nf_dec": [4]}}, "network", **WHERE)


def test_segresnet_vae_adds_its_loss_in_training_only() -> None:
    args = {"use_vae": True, "init_filters": 4, "blocks_down": "1,1", "blocks_up": "1", "use_group_normG": 2}
    with pytest.raises(ConfigError, match="use_vae needs the training crop size"):
        build({"name": "SegResnet", "args": args}, "network", **WHERE)
    network = build(
        {"name": "SegResnet", "args": {**args, "input_image_size": [16, 16, 16]}}, "network", **WHERE
    )
    out = network(torch.rand(2, 1, 16, 16, 16))
    assert out.shape == (2, 2, 16, 16, 16)
    extra = network.auxiliary_loss
    assert extra is not None and extra.ndim == 0 and float(extra) > 0 and extra.requires_grad
    network.eval()
    with torch.no_grad():
        assert network(torch.rand(1, 1, 24, 24, 24)).shape == (1, 2, 24, 24, 24)  # any size without the VAE
    assert network.auxiliary_loss is None


def test_stats_handler_logs_loss(caplog: pytest.LogCaptureFixture) -> None:
    from types import SimpleNamespace

    handler = build({"name": "StatsHandler", "args": {"log_every": 2}}, "handler", **WHERE)
    trainer: Any = SimpleNamespace(
        state=SimpleNamespace(epoch=0, iteration=2, last_loss=0.25, metrics={"dice": 0.5}),
        epoch_mean_loss=0.3,
    )
    with caplog.at_level("INFO", logger="clara_tlt.train"):
        handler.iteration_completed(trainer)
        trainer.state.iteration = 3
        handler.iteration_completed(trainer)
        handler.epoch_completed(trainer)
    assert caplog.messages == ["epoch 1 iteration 2: Loss 0.2500", "epoch 0: mean Loss 0.3000, dice 0.5000"]


TESTED: dict[str, set[str]] = {
    "loss": {
        "Dice",
        "CrossEntropy",
        "Focal",
        "CrossEntropyDice",
        "FocalDice",
        "BinaryClassificationLoss",
        "MulticlassClassificationLoss",
        "WeightedMulticlassClassificationLoss",
    },
    "optimizer": {"Adam", "Momentum", "NovoGrad"},
    "lr_policy": {"DecayOnStep", "ReducePoly", "ReduceCosine", "ReduceOnPlateau"},
    "network": set(NETWORKS),
    "handler": {"StatsHandler", "EarlyStop"},
}


def test_every_registered_name_of_these_kinds_is_tested_here() -> None:
    for kind in KINDS:
        registered = {e.name for e in catalogue(kind)}
        assert registered == TESTED[kind], f"{kind}: add a test for {registered ^ TESTED[kind]}"


def test_keras_pipelines_build_their_twins(tmp_path: Path) -> None:
    datalist = tmp_path / "datalist.json"
    datalist.write_text('{"training": [{"image": "a.nii.gz", "label": "b.nii.gz"}]}')
    for name in ("a.nii.gz", "b.nii.gz"):
        (tmp_path / name).touch()  # constructing reads the datalist only, no image
    args = {"data_list_file_path": str(datalist), "data_list_key": "training", "output_batch_size": 1}
    keras = build({"name": "SegmentationKerasImagePipeline", "args": args}, "image_pipeline", **WHERE)
    twin = build({"name": "SegmentationImagePipeline", "args": args}, "image_pipeline", **WHERE)
    assert type(keras) is type(twin) and keras.entries == twin.entries
    with pytest.raises(ConfigError, match="has no argument 'sampling'"):
        build(
            {"name": "ClassificationKerasImagePipeline", "args": {**args, "sampling": "element"}},
            "image_pipeline",
            **WHERE,
        )


def test_alexnet_refuses_what_it_cannot_honour() -> None:
    for args, message in (
        ({"mil": True}, "multiple-instance learning"),
        ({"dtype": "float16"}, r"dtype 'float16' cannot be honoured.*use_amp"),
        ({"num_feat": "4,4,4"}, "num_feat needs 7 widths"),
    ):
        with pytest.raises(ConfigError, match=message):
            build({"name": "Alexnet", "args": args}, "network", **WHERE)


@pytest.mark.parametrize("name", ["SegResnet", "Alexnet"])
def test_model_reg_weight_becomes_the_optimizers_weight_decay(tmp_path: Path, name: str) -> None:
    from clara_tlt.config import load_config
    from clara_tlt.engines.workflow import build_workflow
    from tests.conftest import write_json

    model = {"name": name, "args": {"reg_weight": 1e-5, "num_classes": 2}}
    config = write_json(tmp_path / "c.json", {"train": {"model": model, "optimizer": {"name": "Adam"}}})
    optimizer = build_workflow(load_config(config)).get("train.optimizer")
    assert optimizer.param_groups[0]["weight_decay"] == 1e-5


def test_segahnet_takes_claras_data_format_and_refuses_a_download() -> None:
    args = {"num_classes": 2, "n_spatial_dim": 2, "data_format": "channels_last", "in_channels": 3}
    network = build({"name": "SegAhnet", "args": args}, "network", **WHERE).eval()
    with torch.no_grad():
        assert network(torch.rand(1, 32, 32, 3)).shape == (
            1,
            2,
            32,
            32,
        )  # (N, H, W, C) in, channels first out
    with pytest.raises(ConfigError, match=r"pretrain_weight_url .* cannot be honoured.*pretrain_weight_name"):
        build({"name": "SegAhnet", "args": {"pretrain_weight_url": "https://x/w.h5"}}, "network", **WHERE)


def test_early_stop_ends_training_after_the_threshold_of_validations_without_a_better_metric() -> None:
    from types import SimpleNamespace

    handler = build({"name": "EarlyStop", "args": {"val_times_threshold": 2}}, "handler", **WHERE)
    ended: list[int] = []
    state = SimpleNamespace(epoch=1, improved=True)
    trainer: Any = SimpleNamespace(state=state, end_after_epoch=lambda: ended.append(state.epoch))
    for epoch, improved in ((1, True), (2, False), (3, True), (4, False)):
        trainer.state.epoch, trainer.state.improved = epoch, improved
        handler.validated(trainer)
    assert ended == []  # never two misses in a row
    trainer.state.epoch, trainer.state.improved = 5, False
    handler.validated(trainer)
    assert ended == [5]  # the loop ends after epoch 5


def test_argument_spellings_of_other_releases_mean_the_same_and_clash_loudly() -> None:
    weight = torch.nn.Parameter(torch.ones(1))
    for args in ({"use_nesterov": True}, {"nesterov": True}, {"use_nesterov": True, "nesterov": True}):
        optimizer = build(
            {"name": "Momentum", "args": args}, "optimizer", **WHERE, inject={"params": [weight]}
        )
        assert optimizer.defaults["nesterov"] is True
    with pytest.raises(ConfigError, match="use_nesterov true and nesterov false disagree"):
        build(
            {"name": "Momentum", "args": {"use_nesterov": True, "nesterov": False}},
            "optimizer",
            **WHERE,
            inject={"params": [weight]},
        )


def test_segahnet_plane_other_than_z_cannot_be_honoured() -> None:
    with pytest.raises(ConfigError, match="plane 'x' cannot be honoured"):
        build({"name": "SegAhnet", "args": {"plane": "x"}}, "network", **WHERE)


def test_neg_loss_puts_the_negated_loss_of_each_case_for_a_metric(tmp_path: Path) -> None:
    from clara_tlt.config import load_config
    from clara_tlt.engines.workflow import build_workflow

    config = {
        "train": {"loss": {"name": "Dice"}},
        "validate": {
            "aux_ops": [{"name": "NegLoss", "args": {"tag": "neg_dice"}}],
            "metrics": [
                {
                    "name": "ComputeAverage",
                    "args": {"name": "neg_dice", "field": "neg_dice", "is_key_metric": True},
                }
            ],
        },
    }
    (tmp_path / "c.json").write_text(json.dumps(config))
    workflow = build_workflow(load_config(tmp_path / "c.json"))
    p, y = probabilities_and_labels()
    sample = workflow.get("validate.aux_ops")[0]({"model": p, "label": y})
    dice = workflow.get("train.loss")
    assert sample["neg_dice"].shape == (2,)
    assert float(sample["neg_dice"][1]) == pytest.approx(-float(dice(p[1:], y[1:])))
    metric = workflow.get("validate.metrics")[0]
    metric.reset()
    metric.update(sample)
    assert metric.aggregate() == pytest.approx(float(sample["neg_dice"].mean()))
    with pytest.raises(ConfigError, match='add a "loss" to the train section'):
        build({"name": "NegLoss"}, "metric", **WHERE)
