"""Clara 3.1's TF model loaders as written in users' configs: they load the PyTorch file beside the TF one."""

from __future__ import annotations

from pathlib import Path

import pytest

from clara_tlt.errors import ConfigError
from clara_tlt.factory.registry import build

WHERE = {"file": "config_validation.json", "key_path": "model_loader"}


def test_checkpoint_loader_of_the_31_reference_finds_the_pt_beside_the_ckpt(tmp_path: Path) -> None:
    (tmp_path / "model.pt").write_bytes(b"")
    spec = {
        "name": "CheckpointLoader",
        "args": {"checkpoint_dir": str(tmp_path), "input_node_names": {"image": "NV_MODEL_INPUT"}},
    }
    path, model_format = build(spec, "model_loader", **WHERE).resolve()
    assert path == tmp_path / "model.pt" and model_format == "checkpoint"


@pytest.mark.parametrize("prefix", ["model.ckpt", "model"])
def test_checkpoint_loader_takes_the_references_prefix_with_or_without_ckpt(
    tmp_path: Path, prefix: str
) -> None:
    (tmp_path / "model.pt").write_bytes(b"")
    args = {"checkpoint_dir": str(tmp_path), "checkpoint_file_prefix": prefix}
    path, _ = build({"name": "CheckpointLoader", "args": args}, "model_loader", **WHERE).resolve()
    assert path == tmp_path / "model.pt"


def test_frozen_graph_loader_takes_node_names_and_refuses_training_mode(tmp_path: Path) -> None:
    (tmp_path / "model.ts").write_bytes(b"")
    args = {"model_file_path": str(tmp_path / "model.trt.pb"), "output_node_names": ["NV_MODEL_OUTPUT"]}
    loader = build({"name": "FrozenGraphModelLoader", "args": args}, "model_loader", **WHERE)
    assert loader.resolve() == (tmp_path / "model.ts", "torchscript")
    with pytest.raises(ConfigError, match=r"infer_in_training_mode=true .* is not supported"):
        build(
            {"name": "FrozenGraphModelLoader", "args": {**args, "infer_in_training_mode": True}},
            "model_loader",
            **WHERE,
        )
