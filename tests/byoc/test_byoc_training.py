"""Clara 3.x custom components named by `path` from the MMAR's custom/ folder: TF-free ones train, TF ones exit 3."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from clara_tlt.errors import ConfigError
from clara_tlt.factory.registry import build
from tests.byoc.conftest import docs_block, write_custom
from tests.conftest import write_json
from tests.engines.conftest import tiny_train_config
from tests.test_cli import invoke, invoke_streams


def byoc_mmar(
    mmar: Path, seed_configs: Path, train_data: Path, transform: dict, loss: dict, model: dict | None = None
) -> Path:
    """The tiny training MMAR (one epoch) with `transform` after the intensity scaling, `loss` and `model`."""
    config = tiny_train_config(seed_configs, epochs=1)
    config["train"]["pre_transforms"].insert(3, transform)
    config["train"]["loss"] = loss
    config["train"]["model"] = model or config["train"]["model"]
    write_json(mmar / "config" / "config_train.json", config)
    environment = {
        "DATASET_JSON": str(train_data),
        "DATA_ROOT": str(train_data.parent),
        "MMAR_CKPT_DIR": "models",
    }
    write_json(mmar / "config" / "environment.json", environment)
    return mmar


def test_the_docs_transform_ported_loss_and_network_train_one_epoch(
    tmp_path: Path, seed_configs: Path, train_data: Path
) -> None:
    mmar = tmp_path / "mmar"
    write_custom(mmar, "byoc_train_transforms", docs_block("byoc-transform"))
    write_custom(mmar, "byoc_train_loss", docs_block("byoc-loss"))
    write_custom(mmar, "byoc_train_network", docs_block("byoc-network"))
    transform = {
        "path": "byoc_train_transforms.MyAddRandomConstant",
        "args": {"fields": ["image"], "magnitude": 0.1},
    }
    loss = {"path": "byoc_train_loss.MyClonedDiceLoss", "args": {"data_format": "channels_first"}}
    network = {"path": "byoc_train_network.MyTinyNet", "args": {"num_classes": 2}}
    byoc_mmar(mmar, seed_configs, train_data, transform, loss, network)

    code, stdout, stderr = invoke_streams(
        "train", "-m", str(mmar), "-c", "config/config_train.json", "--json"
    )
    assert code == 0, stderr
    history = json.loads(stdout)["history"]
    assert len(history) == 1 and 0.0 < history[0]["loss"] < 1.0, history  # a soft Dice loss, computed
    assert (mmar / "models" / "model_final.pt").is_file()


TF_TRANSFORM = """
import tensorflow as tf

from ai4med.components.transforms.multi_field_transformer import MultiFieldTransformer


class MyTfTransform(MultiFieldTransformer):
    def transform(self, transform_ctx):
        return transform_ctx
"""


def test_a_custom_component_importing_tensorflow_exits_3_naming_file_class_and_key(
    tmp_path: Path, seed_configs: Path, train_data: Path
) -> None:
    mmar = tmp_path / "mmar"
    custom = write_custom(mmar, "byoc_tf_transforms", TF_TRANSFORM)
    transform = {"path": "byoc_tf_transforms.MyTfTransform", "args": {"fields": "image"}}
    byoc_mmar(mmar, seed_configs, train_data, transform, {"name": "Dice"})

    code, output = invoke("train", "-m", str(mmar), "-c", "config/config_train.json", "--dry-run")
    assert code == 3, output
    assert "config_train.json: train.pre_transforms[3].path: class 'MyTfTransform'" in output
    assert "needs TensorFlow: port it to PyTorch (docs/byoc.md)" in output
    assert str(custom) in output
    assert "Traceback" not in output


def test_an_ai4med_module_the_layer_lacks_is_named(
    tmp_path: Path, seed_configs: Path, train_data: Path
) -> None:
    mmar = tmp_path / "mmar"
    write_custom(mmar, "byoc_libs", "from ai4med.libs.transforms import intensity_range_scaler\n")
    transform = {"path": "byoc_libs.Scaler", "args": {}}
    byoc_mmar(mmar, seed_configs, train_data, transform, {"name": "Dice"})

    code, output = invoke("train", "-m", str(mmar), "-c", "config/config_train.json", "--dry-run")
    assert code == 3, output
    assert "ai4med.libs" in output and "docs/byoc.md" in output


def test_where_tensorflow_is_installed_a_module_importing_it_is_refused_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tensorflow", ModuleType("tensorflow"))  # stands in for an installed one
    custom = write_custom(tmp_path, "byoc_tf_installed", TF_TRANSFORM)
    spec = {"path": "byoc_tf_installed.MyTfTransform", "args": {"fields": "image"}}
    with pytest.raises(ConfigError, match="needs TensorFlow: port it to PyTorch") as raised:
        build(
            spec,
            "transform",
            file="config_train.json",
            key_path="train.pre_transforms[3]",
            search_dirs=[custom.parent],
        )
    assert raised.value.exit_code == 3 and str(custom) in str(raised.value)


LAZY_KERAS_LOSS = """
from ai4med.components.losses.loss import Loss


class MyKerasLoss(Loss):
    def __init__(self):
        Loss.__init__(self)
        from keras import backend  # imported when built, not when the module is
"""


def test_a_component_importing_keras_when_built_is_refused_not_sent_to_pip(tmp_path: Path) -> None:
    custom = write_custom(tmp_path, "byoc_lazy_keras", LAZY_KERAS_LOSS)
    with pytest.raises(ConfigError, match=r"class 'MyKerasLoss'.*needs TensorFlow") as raised:
        build(
            {"path": "byoc_lazy_keras.MyKerasLoss"},
            "loss",
            file="config_train.json",
            key_path="train.loss",
            search_dirs=[custom.parent],
        )
    assert str(custom) in str(raised.value) and "pip install" not in str(raised.value)
