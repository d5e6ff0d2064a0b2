"""The component factory: registered names, TLT aliases, class paths, MONAI/torch fallback, EA form, errors."""

from __future__ import annotations

import importlib
import json
import sys
import types
from pathlib import Path

import pytest
import torch
from monai.losses import DiceLoss
from monai.transforms import ScaleIntensityRanged

from clara_tlt.config.component_spec import normalize_spec
from clara_tlt.errors import ConfigError
from clara_tlt.factory import registry as components
from clara_tlt.factory.registry import build
from tests.test_cli import invoke_streams

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


def test_unknown_name_gives_did_you_mean_and_lists_the_accepted_names_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(components, "_listed_kinds", set())
    with pytest.raises(ConfigError) as info:
        build({"name": "ScaleIntensityRang"}, "transform", **WHERE)  # a one-letter typo: was 2.5 kB
    typo = str(info.value)
    assert typo.startswith(
        "config_train.json: train.loss.name: unknown transform 'ScaleIntensityRang'; did you "
    )
    assert "'ScaleIntensityRange'" in typo and "`clara-tlt components transform`" in typo
    assert "Accepted names" not in typo and len(typo) < 400
    assert info.value.exit_code == 3
    messages = []
    for name in ("Xyzzy", "Qwerty"):  # no close name: the accepted names once per run, then where they are
        with pytest.raises(ConfigError) as info:
            build({"name": name}, "loss", **WHERE)
        messages.append(str(info.value))
    assert (
        "Accepted names: BinaryClassificationLoss, CrossEntropy, CrossEntropyDice, Dice, Focal" in messages[0]
    )
    assert "Accepted names" not in messages[1] and "`clara-tlt components loss` lists" in messages[1]
    code, stdout, _ = invoke_streams("components", "loss")  # the place the message points to lists them
    assert code == 0 and "Dice" in stdout and "CrossEntropyDice" in stdout


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


def test_spec_needs_name_or_path_and_both_must_agree() -> None:
    with pytest.raises(ConfigError, match=r"\"name\" 'Dice' and \"path\" 'x.Y' name different classes"):
        build({"name": "Dice", "path": "x.Y"}, "loss", **WHERE)
    with pytest.raises(ConfigError, match='needs "name"'):
        build({"args": {}}, "loss", **WHERE)
    both = {"name": "DiceLoss", "path": "monai.losses.DiceLoss", "args": {"sigmoid": True}}
    assert build(both, "loss", **WHERE).sigmoid is True  # agreeing: accepted, built from the path


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


def test_wrong_argument_type_names_the_argument_and_the_type() -> None:
    where = {"file": "c.json", "key_path": "train.model"}
    with pytest.raises(
        ConfigError,
        match=r"^c\.json: train\.model\.args\.num_classes: num_classes must be an integer, got 'two'$",
    ) as info:
        build({"name": "SegAhnet", "args": {"num_classes": "two"}}, "network", **where)
    assert info.value.exit_code == 3
    with pytest.raises(ConfigError, match="num_classes must be an integer, got True"):  # a bool is no integer
        build({"name": "SegAhnet", "args": {"num_classes": True}}, "network", **where)


def test_an_integer_is_a_valid_float_and_lists_and_null_are_checked(tmp_path: Path) -> None:
    model = torch.nn.Linear(2, 1)
    adam = build(
        {"name": "Adam", "args": {"learning_rate": 1, "beta1": 0}},
        "optimizer",
        file="c.json",
        key_path="train.optimizer",
        inject={"params": model.parameters()},
    )
    assert adam.param_groups[0]["lr"] == 1 and adam.param_groups[0]["betas"] == (0, 0.999)
    custom = write_module(
        tmp_path,
        "sized_for_test",
        "class Sized:\n    def __init__(self, sizes: list[int] | None = None, name: str = 'a'):\n"
        "        self.sizes = sizes\n",
    )
    built = build(
        {"path": "sized_for_test.Sized", "args": {"sizes": None}}, "loss", search_dirs=[custom], **WHERE
    )
    assert built.sizes is None
    with pytest.raises(ConfigError, match=r"sizes must be a list of integers or null, got \[1, 'x'\]"):
        build(
            {"path": "sized_for_test.Sized", "args": {"sizes": [1, "x"]}},
            "loss",
            search_dirs=[custom],
            **WHERE,
        )
    with pytest.raises(ConfigError, match="name must be a string, got 3"):
        build({"path": "sized_for_test.Sized", "args": {"name": 3}}, "loss", search_dirs=[custom], **WHERE)


def test_a_library_rejecting_a_value_is_a_config_error() -> None:
    model = torch.nn.Linear(2, 1)
    with pytest.raises(
        ConfigError, match=r"train\.optimizer\.args: cannot build optimizer 'SGD': Invalid momentum value: -1"
    ):
        build(
            {"name": "SGD", "args": {"momentum": -1}},
            "optimizer",
            file="c.json",
            key_path="train.optimizer",
            inject={"params": model.parameters(), "lr": 0.1},
        )
    with pytest.raises(ConfigError, match="cannot build optimizer 'Adam': Invalid beta parameter"):
        build(  # our factory passes the value on; torch rejects it
            {"name": "Adam", "args": {"beta1": 2.0}},
            "optimizer",
            file="c.json",
            key_path="train.optimizer",
            inject={"params": model.parameters()},
        )


def test_an_error_inside_our_own_code_is_not_called_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("clara_tlt.buggy_for_test")
    exec(  # a component whose code lives in a clara_tlt module and has a bug
        "class Buggy:\n    def __init__(self, size: int = 2):\n        self.halves = [0] * size\n"
        "        self.halves.index(1)\n",
        module.__dict__,
    )
    monkeypatch.setitem(sys.modules, module.__name__, module)
    with pytest.raises(ValueError, match="is not in list") as info:
        build({"path": "clara_tlt.buggy_for_test.Buggy"}, "loss", **WHERE)
    assert not isinstance(info.value, ConfigError)


@pytest.mark.parametrize(
    ("body", "package", "install"),
    [
        (
            "import no_such_package_for_test.sub",
            "no_such_package_for_test",
            "pip install no_such_package_for_test",
        ),
        (
            "from monai.utils import optional_import\n"
            "        optional_import('no_such_package_for_test')[0].f()",
            "no_such_package_for_test",
            "pip install no_such_package_for_test",
        ),
        (
            "raise ModuleNotFoundError(\"No module named 'cv2'\", name='cv2')",
            "cv2",
            "pip install opencv-python",
        ),
    ],
    ids=["import", "monai-optional-import", "pypi-name-differs"],
)
def test_missing_optional_package_names_package_component_and_install_command(
    tmp_path: Path, body: str, package: str, install: str
) -> None:
    module = f"needs_package_{len(body)}_for_test"
    custom = write_module(tmp_path, module, f"class NeedsPackage:\n    def __init__(self):\n        {body}\n")
    with pytest.raises(ConfigError) as info:
        build({"path": f"{module}.NeedsPackage"}, "loss", search_dirs=[custom], **WHERE)
    message = str(info.value)
    assert message.startswith(
        f"config_train.json: train.loss.args: loss '{module}.NeedsPackage' needs the package"
    )
    assert f"'{package}', which is not installed" in message and f"`{install}`" in message
    assert info.value.exit_code == 3


def write_module(tmp_path: Path, name: str, source: str) -> Path:
    """A module `name` in an MMAR-style custom/ folder; returns the folder."""
    custom = tmp_path / "custom"
    custom.mkdir(exist_ok=True)
    (custom / f"{name}.py").write_text(source)
    return custom


def test_types_are_checked_against_a_declared_signature(tmp_path: Path) -> None:
    custom = write_module(  # a factory taking **args that declares its arguments, as our transforms do
        tmp_path,
        "declared_for_test",
        "import inspect\n"
        "def Declared(**args):\n    return args\n"
        "Declared.__signature__ = inspect.Signature(\n"
        "    [inspect.Parameter('size', inspect.Parameter.KEYWORD_ONLY, default=1, annotation=int)]\n)\n",
    )
    spec = {"path": "declared_for_test.Declared", "args": {"size": 2.5}}
    with pytest.raises(ConfigError, match=r"size must be an integer, got 2\.5"):
        build(spec, "loss", search_dirs=[custom], **WHERE)


def test_a_component_key_that_is_not_a_spec_key_is_refused_with_did_you_mean() -> None:
    with pytest.raises(
        ConfigError, match=r"train\.loss\.disable: unknown key 'disable' .*did you mean 'disabled'"
    ):
        build({"name": "Dice", "args": {}, "disable": True}, "loss", **WHERE)


def test_automl_search_and_apply_are_accepted_and_the_written_values_used() -> None:
    spec = {
        "name": "Focal",
        "args": {"gamma": 1.0},
        "search": [{"type": "float", "args": ["gamma"], "targets": [0.5, 3.0], "domain": "loss"}],
        "apply": {"@disabled": "mySearchLoss"},
    }
    assert build(spec, "loss", **WHERE).gamma == 1.0


@pytest.mark.parametrize("kind", ["dataset", "dataloader", "monai_handler", "ignite_metric", "engine"])
def test_a_clara4_kind_lists_the_monai_classes_a_config_names_exactly(kind: str) -> None:
    code, stdout, stderr = invoke_streams("components", kind, "--json")
    assert code == 0, stdout + stderr
    listed = json.loads(stdout)["library_classes"]
    assert listed, f"{kind}: nothing listed"
    for entry in listed:  # each listed name builds the class the listing names
        spec = normalize_spec({"name": entry["name"]}, file="c.json", key_path="k")
        found = components.resolve(spec, kind, file="c.json", key_path="k")
        assert found is getattr(importlib.import_module(entry["module"]), entry["name"])
    names = {entry["name"] for entry in listed}
    expected = {
        "dataset": {"CacheDataset", "SmartCacheDataset", "PersistentDataset"},
        "dataloader": {"DataLoader"},
        "monai_handler": {"StatsHandler", "ValidationHandler", "CheckpointSaver", "MetricsSaver"},
        "ignite_metric": {"MeanDice", "Accuracy"},
        "engine": {"SupervisedTrainer", "SupervisedEvaluator"},
    }[kind]
    assert expected <= names
    code, text, _ = invoke_streams("components", kind)
    assert "0 registered names" not in text and "exactly" in text
