"""A model file's network is built offline: the arguments by which a library network downloads weights
(`pretrained`, `pretrained_url`, ...) are turned off, given or on by default, since the trained weights come from
the model file itself. A guard on the socket layer records any attempt to go online."""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Any

import pytest
import torch

from clara_tlt.engines.checkpoint import network_from_checkpoint, save_checkpoint
from clara_tlt.factory.registry import build

ONLINE = [
    # a download argument given, by each of the names MONAI 1.6 networks use
    (
        {"name": "Densenet121", "args": {"spatial_dims": 2, "in_channels": 3, "out_channels": 2}},
        "pretrained",
        True,
    ),
    ({"name": "HoVerNet", "args": {}}, "pretrained_url", "https://weights.example.org/hovernet.pth"),
    # on by default: EfficientNetBN fetches ImageNet weights unless told not to
    (
        {
            "name": "EfficientNetBN",
            "args": {"model_name": "efficientnet-b0", "spatial_dims": 2, "num_classes": 2},
        },
        "pretrained",
        None,
    ),
]


@pytest.fixture
def attempts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[Any]:
    """Every host lookup or connection tried from now on (refused, and recorded); an empty torch hub cache."""
    tried: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        tried.append(args)
        raise OSError("the test is offline")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    return tried


@pytest.mark.parametrize(("spec", "key", "value"), ONLINE, ids=["pretrained", "pretrained_url", "default"])
def test_a_model_files_network_is_built_without_downloading(
    attempts: list[Any], tmp_path: Path, caplog: pytest.LogCaptureFixture, spec: dict, key: str, value: Any
) -> None:
    trained = build(
        {**spec, "args": {**spec["args"], key: False if key == "pretrained" else None}},
        "network",
        file="own config",
        key_path="model",
    )
    in_file = {**spec, "args": {**spec["args"], **({} if value is None else {key: value})}}
    checkpoint = save_checkpoint(
        tmp_path / "model.pt", {"model": trained.state_dict(), "train_conf": {"train": {"model": in_file}}}
    )
    with caplog.at_level(logging.INFO):
        network, _ = network_from_checkpoint(checkpoint)
    assert attempts == []
    for name, tensor in trained.state_dict().items():
        assert torch.equal(
            network.state_dict()[name], tensor
        )  # the model file's weights, not downloaded ones
    assert f"{checkpoint}: train_conf.train.model.args.{key}=" in caplog.text
    assert "the trained weights come from the model file itself" in caplog.text
