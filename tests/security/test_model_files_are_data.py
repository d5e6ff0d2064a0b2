"""A model file is data, never code: a `train_conf` naming a callable (by `path` or by a dotted `name`) is refused
before anything is imported or run, in the library and in every command that rebuilds its network, in both
dialects. A canary package on the import path writes a file when imported: the refusal must leave it unwritten
(an exit code alone passes even when the module was imported first)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from clara_tlt.cli.evaluate import tlt_command as tlt_evaluate
from clara_tlt.cli.export import tlt_command as tlt_export
from clara_tlt.cli.infer import tlt_command as tlt_infer
from clara_tlt.engines.checkpoint import load_checkpoint, network_from_checkpoint, save_checkpoint
from clara_tlt.errors import ConfigError
from clara_tlt.factory.origin import ModelFile, from_model_file
from clara_tlt.factory.registry import build
from tests.conftest import write_json
from tests.engines.conftest import write_validation_mmar
from tests.test_cli import invoke_streams

CANARY = "model_file_canary"


@pytest.fixture
def canary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A package on the import path whose import writes the returned file; `tools.wipe` a function in it, and
    `hub/hubconf.py` a torch.hub entry point that writes the file too. Imports and sys.path are undone after."""
    mark, code = tmp_path / "imported", tmp_path / "importable"
    writes = f"open({str(mark)!r}, 'w').write('imported')\n"
    (code / CANARY).mkdir(parents=True)
    (code / CANARY / "__init__.py").write_text(writes)
    (code / CANARY / "tools.py").write_text(
        writes + "def wipe(folder):\n    import shutil; shutil.rmtree(folder)\n"
    )
    (code / "hub").mkdir()
    (code / "hub" / "hubconf.py").write_text(writes + "def net(): return None\n")
    monkeypatch.setattr(sys, "path", [str(code), *sys.path])
    before = set(sys.modules)
    yield mark
    for name in set(sys.modules) - before:
        if name.split(".")[0] in (CANARY, "hubconf", "tiny_net", "json"):
            del sys.modules[name]


def callables(mark: Path) -> dict[str, dict[str, Any]]:
    """Callables a hostile train_conf could name, each with args that would write `mark` or delete its folder."""
    return {
        "subprocess.Popen": {"args": ["touch", str(mark)]},
        "os.system": {"command": f"touch {mark}"},
        "builtins.exec": {"source": f"open({str(mark)!r}, 'w')"},
        "torch.hub.load": {
            "repo_or_dir": str(mark.parent / "importable" / "hub"),
            "model": "net",
            "source": "local",
        },
        f"{CANARY}.tools.wipe": {"folder": str(mark.parent)},
        "shutil.rmtree": {"path": str(mark.parent)},
    }


def hostile_checkpoint(path: Path, spec: dict[str, Any]) -> Path:
    """A checkpoint `torch.load(weights_only=True)` accepts whose train_conf names `spec` as its network."""
    return save_checkpoint(path, {"model": {}, "train_conf": {"train": {"model": spec}}, "epoch": 1})


@pytest.mark.parametrize("key", ["path", "name"])
@pytest.mark.parametrize("target", list(callables(Path("x"))))
def test_a_model_file_naming_a_callable_is_refused_before_any_import(
    canary: Path, tmp_path: Path, target: str, key: str
) -> None:
    spec = {key: target, "args": callables(canary)[target]}
    checkpoint = hostile_checkpoint(tmp_path / "model.pt", spec)
    with pytest.raises(ConfigError) as info:
        network_from_checkpoint(checkpoint)
    message = str(info.value)
    assert message.startswith(f"{checkpoint}: train_conf.train.model.{key}: ")
    assert "a model file is data" in message and "-c or --config" in message and info.value.exit_code == 3
    assert not canary.exists() and CANARY not in sys.modules and "hubconf" not in sys.modules
    assert tmp_path.is_dir()


def test_a_build_inside_a_model_files_build_follows_its_rules(canary: Path) -> None:
    """A factory that builds a spec of its own, later, gets the rules without being told (no flag to forget)."""
    with from_model_file(ModelFile("model.pt")), pytest.raises(ConfigError, match="a model file is data"):
        build({"path": f"{CANARY}.tools.wipe"}, "loss", file="config.json", key_path="train.loss")
    assert not canary.exists()
    assert build({"name": "UNet", "args": UNET_ARGS}, "network", file="c.json", key_path="model") is not None


UNET_ARGS = {"spatial_dims": 3, "in_channels": 1, "out_channels": 2, "channels": [4, 8], "strides": [2]}


def test_registered_names_and_library_classes_still_load(tmp_path: Path) -> None:
    conv = {"name": "Conv3d", "args": {"in_channels": 1, "out_channels": 2, "kernel_size": 3}}  # torch.nn's
    for spec in (
        {"name": "UNet", "args": UNET_ARGS},
        {"name": "Unet", "args": {"num_classes": 2, "nf_enc": [4, 8], "nf_dec": [8, 4]}},
        conv,
    ):
        network = build(spec, "network", file="test", key_path="model")
        checkpoint = save_checkpoint(
            tmp_path / "model.pt", {"model": network.state_dict(), "train_conf": {"train": {"model": spec}}}
        )
        rebuilt, _ = network_from_checkpoint(checkpoint)
        assert type(rebuilt) is type(network)


@pytest.fixture
def hostile_mmar(tmp_path: Path, seed_configs: Path, synthetic_dataset: Path) -> Path:
    """An MMAR with the seed validation config (16³ windows) and an empty eval/ target."""
    mmar = tmp_path / "mmar"
    write_validation_mmar(mmar, seed_configs, synthetic_dataset)
    return mmar


def commands(mmar: Path, data: Path) -> dict[str, Callable[[], tuple[int, str, str]]]:
    """Every command that rebuilds a network from models/model.pt, in both dialects."""
    mmar_args = ("-m", str(mmar), "-c", "config/config_validation.json")
    tlt_args = (
        *("--model_save_path", str(mmar / "models" / "model.pt")),
        *("--config", str(mmar / "config" / "config_validation.json")),
        *("--data_file", str(data), "--output_path", str(mmar / "out")),
    )
    return {
        "infer": lambda: invoke_streams("infer", *mmar_args),
        "evaluate": lambda: invoke_streams("evaluate", *mmar_args),
        "export": lambda: invoke_streams("export", "-m", str(mmar)),
        "tlt-infer": lambda: invoke_streams(*tlt_args, command=tlt_infer),
        "tlt-evaluate": lambda: invoke_streams(*tlt_args, command=tlt_evaluate),
        "tlt-export": lambda: invoke_streams("--model_file_path", str(mmar / "models"), command=tlt_export),
    }


@pytest.mark.parametrize(
    "spec_of", [lambda m: {"path": f"{CANARY}.tools.wipe"}, lambda m: {"name": "torch.hub.load"}]
)
@pytest.mark.parametrize(
    "command", ["infer", "evaluate", "export", "tlt-infer", "tlt-evaluate", "tlt-export"]
)
def test_every_command_refuses_a_model_file_that_names_code(
    canary: Path, hostile_mmar: Path, synthetic_dataset: Path, command: str, spec_of: Callable[[Path], dict]
) -> None:
    spec = {**spec_of(canary), "args": callables(canary)[spec_of(canary).get("path") or "torch.hub.load"]}
    checkpoint = hostile_checkpoint(hostile_mmar / "models" / "model.pt", spec)
    code, _, stderr = commands(hostile_mmar, synthetic_dataset)[command]()
    assert code == 3, stderr
    assert f"{checkpoint}: train_conf.train.model." in stderr and "a model file is data" in stderr
    assert not canary.exists() and CANARY not in sys.modules and (hostile_mmar / "models").is_dir()


def test_deploy_refuses_a_model_file_that_names_code(
    canary: Path, aiaa_config: Path, ct_folder: Path, tmp_path: Path
) -> None:
    spec = {"path": f"{CANARY}.tools.wipe", "args": callables(canary)[f"{CANARY}.tools.wipe"]}
    checkpoint = hostile_checkpoint(tmp_path / "models" / "model.pt", spec)
    code, _, stderr = invoke_streams(
        *("deploy", "--config", str(aiaa_config), "--model_save_path", str(checkpoint)),
        *("--input", str(ct_folder), "--output", str(tmp_path / "out")),
    )
    assert code == 3 and f"{checkpoint}: train_conf.train.model.path" in stderr, stderr
    assert not canary.exists() and CANARY not in sys.modules


def tiny_net_mmar(root: Path, module_text: str, *, network: str = "tiny_net.TinyNet") -> Path:
    """An MMAR whose custom/tiny_net.py holds `module_text` and whose models/model.pt names `network`."""
    (root / "custom").mkdir(parents=True)
    (root / "custom" / "tiny_net.py").write_text(module_text)
    conv = torch.nn.Conv3d(1, 2, 3, padding=1)
    conf = {"train": {"model": {"path": network}}, "validate": {"inferer": {"args": {"roi_size": [8, 8, 8]}}}}
    payload = {"model": {f"conv.{k}": v for k, v in conv.state_dict().items()}, "train_conf": conf}
    save_checkpoint(root / "models" / "model.pt", payload)
    return root


TINY_NET = """import torch
from subprocess import Popen


class TinyNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv3d(1, 2, 3, padding=1)

    def forward(self, x):
        return self.conv(x)
"""


def test_a_path_into_the_mmars_custom_folder_works_under_m_only(tmp_path: Path, canary: Path) -> None:
    mmar = tiny_net_mmar(tmp_path / "mmar", TINY_NET)
    code, _, stderr = invoke_streams("--model_file_path", str(mmar / "models"), command=tlt_export)
    assert code == 3 and "a lone model file imports no code" in stderr.lower()
    assert "clara-tlt export -m MMAR -c CONFIG" in stderr and "tiny_net" not in sys.modules
    code, _, stderr = invoke_streams("export", "-m", str(mmar), "--skip_verify")
    assert code == 0, stderr
    assert (mmar / "models" / "model.onnx").is_file()
    config = {
        "model": {"path": "tiny_net.TinyNet"},
        "validate": {"inferer": {"args": {"roi_size": [8, 8, 8]}}},
    }
    write_json(mmar / "config" / "config_train.json", config)  # the other way out: the network in -c
    flags = ("-c", "config/config_train.json", "--model_file_path", str(mmar / "models"), "--skip_verify")
    code, _, stderr = invoke_streams("export", "-m", str(mmar), *flags)
    assert code == 0, stderr


@pytest.mark.parametrize(
    ("where", "network", "refused"),
    [
        ("elsewhere", "tiny_net.TinyNet", "outside the MMAR's code folders"),  # same name, not in custom/
        ("custom", "tiny_net.Popen", "which is not the MMAR's code"),  # imported into a custom module
        ("custom", "json.loads", "taken by"),  # custom/json.py: the stdlib's json would be returned
    ],
)
def test_a_path_outside_the_mmars_code_is_refused(
    tmp_path: Path, canary: Path, where: str, network: str, refused: str
) -> None:
    writes = f"open({str(canary)!r}, 'w').write('imported')\n"
    mmar = tiny_net_mmar(tmp_path / "mmar", TINY_NET, network=network)
    (mmar / "custom" / "json.py").write_text(writes)
    if where == "elsewhere":
        (mmar / "custom" / "tiny_net.py").rename(mmar.parent / "importable" / "tiny_net.py")
        (mmar.parent / "importable" / "tiny_net.py").write_text(writes + TINY_NET)
    code, _, stderr = invoke_streams("export", "-m", str(mmar))
    assert code == 3 and refused in stderr and "a model file is data" in stderr, stderr
    assert not canary.exists()


def test_a_pickle_with_code_objects_is_refused_without_pytorchs_unsafe_advice(tmp_path: Path) -> None:
    checkpoint = tmp_path / "models" / "model.pt"
    checkpoint.parent.mkdir()
    torch.save({"model": {"w": torch.zeros(1)}, "on_load": os.system}, checkpoint)
    with pytest.raises(ConfigError) as info:
        load_checkpoint(checkpoint)
    assert "holds code objects (posix.system)" in str(info.value) and "was refused" in str(info.value)
    code, _, stderr = invoke_streams("--model_file_path", str(checkpoint.parent), command=tlt_export)
    assert code == 3 and "holds code objects" in stderr
    assert "weights_only" not in stderr and "trust" not in stderr
