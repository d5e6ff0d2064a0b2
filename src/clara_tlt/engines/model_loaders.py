"""Load the model that infer and evaluate run: a checkpoint, TorchScript, ONNX or a TensorRT engine.

The format comes from `model_format` (`--model_format`) or else the file's suffix; a checkpoint is rebuilt here,
the other formats are read by `clara_tlt.formats`, which export's verification uses too. Clara's TensorFlow
loaders (`FrozenGraphModelLoader`, `CheckpointModelLoader`, `TRTISModelLoader`) and TensorFlow formats
(`trtmodel`, `.pb`, `.ckpt`) load the PyTorch artefact with the same base name in the same folder
(`model.trt.pb` → `model.ts`, `model.onnx`, `model.pt`, the first found), so seed configs run as written.

>>> loader = ModelLoader("models/model.pt")  # doctest: +SKIP
>>> loaded = loader.load(device=torch.device("cpu"))  # doctest: +SKIP
>>> loaded.network(torch.zeros(1, 1, 32, 32, 32)).shape  # doctest: +SKIP
torch.Size([1, 2, 32, 32, 32])
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from clara_tlt.errors import ConfigError
from clara_tlt.factory.registry import register
from clara_tlt.formats.onnx import OnnxNetwork
from clara_tlt.formats.suffixes import CHECKPOINT, ONNX, SUFFIXES, TENSORRT, TORCHSCRIPT, base_path, format_of
from clara_tlt.formats.tensorrt import TensorRTNetwork
from clara_tlt.formats.torchscript import load_torchscript

if TYPE_CHECKING:
    from clara_tlt.engines.checkpoint import ConfigNetwork

log = logging.getLogger(__name__)

Network = Callable[[torch.Tensor], torch.Tensor]

# PyTorch artefacts a TensorFlow model file stands for, in the order they are looked for.
BESIDE_TF = (".ts", ".onnx", ".pt")
# `--model_format` values (TLT's and ours) → format; None: a TensorFlow format, mapped to the file beside.
FORMATS: dict[str, str | None] = {
    CHECKPOINT: CHECKPOINT,
    "pt": CHECKPOINT,
    "pth": CHECKPOINT,
    TORCHSCRIPT: TORCHSCRIPT,
    "ts": TORCHSCRIPT,
    ONNX: ONNX,
    TENSORRT: TENSORRT,
    "trt": TENSORRT,
    "plan": TENSORRT,
    "trtmodel": None,
    "frozen": None,
    "frozen_graph": None,
    "tf": None,
    "pb": None,
    "ckpt": None,
}
BY_SUFFIX = "pytorch"  # the TLT flag's default: any PyTorch artefact, told apart by its suffix


@dataclass
class LoadedModel:
    """A callable network `(N, C_in, *spatial) → (N, C_out, *spatial)`, the file it came from, its format."""

    network: Network
    path: Path
    model_format: str


@dataclass
class ModelLoader:
    """Where the model is (`model_file_path`) and, optionally, its format; `load` picks the file and reads it."""

    model_file_path: str
    model_format: str | None = None

    def resolve(self) -> tuple[Path, str]:
        """The file to load and its format (a ConfigError, exit 3, names every file looked for)."""
        path = Path(self.model_file_path)
        chosen = (self.model_format or BY_SUFFIX).lower()
        if chosen != BY_SUFFIX and chosen not in FORMATS:
            raise ConfigError(
                f"unknown model format '{self.model_format}'; formats: {', '.join([BY_SUFFIX, *FORMATS])}"
            )
        wanted = FORMATS.get(chosen) if chosen != BY_SUFFIX else format_of(path)
        if wanted is None:
            return _beside_tf(path)
        if format_of(path) == wanted:
            _require(path, wanted)
            return path, wanted
        candidates = [base_path(path).with_name(base_path(path).name + s) for s in SUFFIXES[wanted]]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise ConfigError(
                f"no {wanted} model for '{path}'; looked for " + ", ".join(str(c) for c in candidates)
            )
        return found, wanted

    def load(
        self,
        *,
        device: torch.device,
        model_spec: ConfigNetwork | None = None,
        search_dirs: Sequence[Path] = (),
    ) -> LoadedModel:
        """Read the model onto `device`; a checkpoint's network is rebuilt from its `train_conf` unless
        `model_spec` (the config's network) is given."""
        path, model_format = self.resolve()
        if model_format == CHECKPOINT:
            from clara_tlt.engines.checkpoint import network_from_checkpoint

            network, _ = network_from_checkpoint(path, model_spec=model_spec, search_dirs=search_dirs)
            return LoadedModel(network.to(device).eval(), path, model_format)
        if model_format == TORCHSCRIPT:
            return LoadedModel(load_torchscript(path, device=device), path, model_format)
        if model_format == ONNX:
            return LoadedModel(OnnxNetwork(path, device=device), path, model_format)
        return LoadedModel(TensorRTNetwork(path, device=device), path, model_format)


def _beside_tf(path: Path) -> tuple[Path, str]:
    """The PyTorch artefact a TensorFlow model file stands for (the documented mapping, said at INFO)."""
    candidates = [base_path(path).with_name(base_path(path).name + s) for s in BESIDE_TF]
    for candidate in candidates:
        if candidate.is_file():
            model_format = format_of(candidate)
            assert model_format is not None
            log.info("%s names Clara's TensorFlow model; loading %s beside it", path.name, candidate)
            return candidate, model_format
    if not path.exists():
        raise no_trained_model(path.parent, candidates)
    raise ConfigError(
        f"'{path}' is a TensorFlow model, which clara-tlt cannot run, and no PyTorch model is beside it; "
        "looked for " + ", ".join(str(c) for c in candidates)
    )


def _require(path: Path, model_format: str) -> None:
    if not path.is_file():
        if _mmar_of(path.parent) is not None and not any(path.parent.glob("*.pt")):
            raise no_trained_model(path.parent, [path])
        raise ConfigError(f"{model_format} model '{path}' not found")


def _mmar_of(folder: Path) -> Path | None:
    """The MMAR whose `models/` folder `folder` is, else None."""
    return folder.parent if folder.name == "models" and (folder.parent / "config").is_dir() else None


def no_trained_model(folder: Path, looked_for: Sequence[Path]) -> ConfigError:
    """A model folder that holds no trained model (exit 3): say so and how to train one, not that a missing
    `model.trt.pb` is a TensorFlow model."""
    mmar = _mmar_of(folder)
    train = (
        f"clara-tlt train -m {mmar} -c config/config_train.json"
        if mmar is not None
        else "clara-tlt train -m MMAR -c CONFIG (or tlt-train), or give the path of a trained model"
    )
    names = ", ".join(str(p) for p in looked_for)
    return ConfigError(f"no trained model in {folder}/ (looked for {names}); train first: {train}")


def _tf_loader(name: str) -> Callable[..., ModelLoader]:
    """Clara's TensorFlow loader `name`: takes `model_file_path` and loads the PyTorch file beside it."""

    def build(
        model_file_path: str,
        input_node_names: Any = None,
        output_node_names: Any = None,
        infer_in_training_mode: bool = False,
    ) -> ModelLoader:
        _tf_only(name, input_node_names, output_node_names, infer_in_training_mode)
        return ModelLoader(model_file_path, model_format="trtmodel")

    build.__name__ = build.__qualname__ = name
    build.__doc__ = (
        f"Clara's {name}: loads the PyTorch model with the same base name beside `model_file_path`."
    )
    return build


def checkpoint_loader(
    checkpoint_dir: str,
    checkpoint_file_prefix: str = "model.ckpt",
    input_node_names: Any = None,
    output_node_names: Any = None,
    infer_in_training_mode: bool = False,
) -> ModelLoader:
    """Clara 3.1's `CheckpointLoader`: the TF checkpoint `<checkpoint_dir>/<prefix>` (the reference's default
    prefix `model.ckpt`; a prefix without `.ckpt` gets it) stands for the PyTorch file beside it
    (`model.ts`, `.onnx`, `.pt`)."""
    _tf_only("CheckpointLoader", input_node_names, output_node_names, infer_in_training_mode)
    name = (
        checkpoint_file_prefix
        if checkpoint_file_prefix.endswith(".ckpt")
        else f"{checkpoint_file_prefix}.ckpt"
    )
    return ModelLoader(str(Path(checkpoint_dir) / name), model_format="trtmodel")


def _tf_only(name: str, input_nodes: Any, output_nodes: Any, training_mode: bool) -> None:
    """TF graph tensor names do not apply to a PyTorch model (accepted, said at debug level); running in
    training mode (batch statistics at inference) is not something our loaders do, so it is refused."""
    if input_nodes or output_nodes:
        log.debug(
            "%s: input_node_names/output_node_names name TensorFlow graph tensors; a PyTorch model has none "
            "(accepted, no effect here)",
            name,
        )
    if training_mode:
        raise ConfigError(
            f"{name}: infer_in_training_mode=true (inference with batch statistics) is not supported; "
            "remove it or set it to false"
        )


def triton_model_loader(
    model_spec_file_name: str | None = None, model_file_path: str | None = None
) -> ModelLoader:
    """Clara's `TRTISModelLoader`: the model of a Triton model folder, named by its `config.pbtxt`
    (`model_spec_file_name`, seed 001) or by the model file itself; the PyTorch file stands in for Triton's
    TensorFlow `1/model.graphdef` (`1/model.ts`, `1/model.onnx`, `1/model.pt`, the first found)."""
    if model_file_path is None and model_spec_file_name is None:
        raise ConfigError("TRTISModelLoader needs model_spec_file_name (config.pbtxt) or model_file_path")
    path = model_file_path or str(Path(str(model_spec_file_name)).parent / "1" / "model.graphdef")
    return ModelLoader(path, model_format="trtmodel")


register("model_loader", "ModelLoader", aliases=("PyTorchModelLoader",))(ModelLoader)
register("model_loader", "TRTISModelLoader")(triton_model_loader)
register("model_loader", "CheckpointLoader")(checkpoint_loader)
for _name in ("FrozenGraphModelLoader", "CheckpointModelLoader"):
    register("model_loader", _name)(_tf_loader(_name))
