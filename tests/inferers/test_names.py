"""Config names build our inferers with the seeds' arguments; bad arguments are config errors (exit 3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from clara_tlt.errors import ConfigError
from clara_tlt.factory.registry import build
from clara_tlt.inferers import ScanWindowInferer, SimpleInferer

WHERE = {"file": "x.json", "key_path": "validate.inferer"}


def seed_inferer(seed_configs: Path, config: str) -> dict[str, object]:
    data = json.loads((seed_configs / config).read_text())
    return data["validate"]["inferer"] if "validate" in data else data["inferer"]


@pytest.mark.parametrize("name", ["ScanWindowInferer", "TFScanWindowInferer"])
@pytest.mark.parametrize(
    ("config", "batch_size"), [("config_train_spleen.json", 1), ("config_validation_spleen.json", 3)]
)
def test_scan_window_names_build_with_the_seed_arguments(
    seed_configs: Path, name: str, config: str, batch_size: int
) -> None:
    spec = seed_inferer(seed_configs, config)
    inferer = build({"name": name, "args": spec["args"]}, "inferer", **WHERE)
    assert isinstance(inferer, ScanWindowInferer)
    assert list(inferer.roi_size) == [160, 160, 160] and inferer.batch_size == batch_size
    assert inferer.overlap == 0.25 and inferer.blend_mode == "constant" and not inferer.labels


def test_the_triton_inferer_takes_the_seeds_server_arguments_and_contacts_no_server_when_built() -> None:
    args = {"model_name": "spleen", "ip": "localhost", "port": 8000, "protocol": "HTTP", "output_type": "RAW"}
    inferer = build({"name": "TRTISScanWindowInferer", "args": {**args, "batch_size": 2}}, "inferer", **WHERE)
    assert isinstance(inferer, ScanWindowInferer) and inferer.batch_size == 2 and inferer.model is None
    with pytest.raises(ConfigError, match="output_type 'JSON' cannot be honoured"):
        build({"name": "TRTISScanWindowInferer", "args": {**args, "output_type": "JSON"}}, "inferer", **WHERE)
    with pytest.raises(ConfigError, match=r"no argument .roi_sise.; did you mean .roi_size."):
        build({"name": "TRTISScanWindowInferer", "args": {**args, "roi_sise": [8, 8, 8]}}, "inferer", **WHERE)


@pytest.mark.parametrize("name", ["SimpleInferer", "TFSimpleInferer"])
def test_simple_names_build_and_run_the_whole_volume(seed_configs: Path, name: str) -> None:
    assert seed_inferer(seed_configs, "config_train_chestxray.json") == {"name": "TFSimpleInferer"}
    inferer = build({"name": name}, "inferer", **WHERE)
    assert isinstance(inferer, SimpleInferer)
    torch.manual_seed(0)
    network = torch.nn.Conv2d(1, 3, 3, padding=1)
    image = torch.randn(2, 1, 9, 7)
    with torch.no_grad():
        expected = network(image)
    torch.testing.assert_close(inferer(image, network), expected)
    inferer.labels = True
    labels = inferer(image, network)
    assert labels.dtype == torch.uint8 and torch.equal(labels.long(), expected.argmax(1, keepdim=True))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"roi_size": [8, 8, 8], "overlap": 1.0}, "overlap must be"),
        ({"roi_size": [8, 8, 8], "batch_size": 0}, "batch_size must be"),
        ({"roi_size": [8, 8, 8], "blend_mode": "gausian"}, "blend_mode .* did you mean .gaussian."),
        ({"roi_size": [8, 8, 8], "padding_mode": "mirror"}, "padding_mode must be one of constant"),
        ({"roi": [8, 8, 8]}, "no argument 'roi'"),
    ],
)
def test_bad_arguments_are_config_errors(args: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        build({"name": "TFScanWindowInferer", "args": args}, "inferer", **WHERE)
    assert str(error.value).startswith("x.json: validate.inferer")
