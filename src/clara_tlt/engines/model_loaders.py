"""Load the model that infer and evaluate run: a checkpoint, TorchScript, ONNX or a TensorRT engine.

The format comes from `model_format` (`--model_format`) or else the file's suffix. Clara's TensorFlow
loaders (`FrozenGraphModelLoader`, `CheckpointModelLoader`, `TRTISModelLoader`) and TensorFlow formats
(`trtmodel`, `.pb`, `.ckpt`) load the PyTorch artefact with the same base name in the same folder
(`model.trt.pb` → `model.ts`, `model.onnx`, `model.pt`, the first found), so seed configs run as written.

>>> loader = ModelLoader("models/model.pt")  # doctest: +SKIP
>>> loaded = loader.load(device=torch.device("cpu"))  # doctest: +SKIP
>>> loaded.network(torch.zeros(1, 1, 32, 32, 32)).shape  # doctest: +SKIP
torch.Size([1, 2, 32, 32, 32])
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from clara_tlt.errors import ConfigError
from clara_tlt.factory.registry import register
from clara_tlt.tf_files import TF_SUFFIXES

log = logging.getLogger(__name__)

Network = Callable[[torch.Tensor], torch.Tensor]

CHECKPOINT, TORCHSCRIPT, ONNX, TENSORRT = "checkpoint", "torchscript", "onnx", "tensorrt"
SUFFIXES = {CHECKPOINT: (".pt", ".pth"), TORCHSCRIPT: (".ts",), ONNX: (".onnx",), TENSORRT: (".trt", ".plan")}
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
        model_spec: Mapping[str, Any] | None = None,
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
            return LoadedModel(torch.jit.load(str(path), map_location=device).eval(), path, model_format)
        if model_format == ONNX:
            return LoadedModel(OnnxNetwork(path, device=device), path, model_format)
        return LoadedModel(TensorRTNetwork(path, device=device), path, model_format)


def format_of(path: Path) -> str | None:
    """The format a suffix names; None for a TensorFlow file; ConfigError for anything else."""
    name = path.name.lower()
    if name.endswith(TF_SUFFIXES):
        return None
    for model_format, suffixes in SUFFIXES.items():
        if name.endswith(suffixes):
            return model_format
    accepted = [s for suffixes in SUFFIXES.values() for s in suffixes] + list(TF_SUFFIXES)
    raise ConfigError(f"'{path}': unknown model file type; suffixes: {', '.join(accepted)}")


def base_path(path: Path) -> Path:
    """`models/model.trt.pb` → `models/model`: the path without any model suffix."""
    name = path.name
    for suffix in (*TF_SUFFIXES, *(s for suffixes in SUFFIXES.values() for s in suffixes)):
        if name.lower().endswith(suffix):
            return path.with_name(name[: -len(suffix)])
    return path


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


def _optional(module: str, path: Path) -> Any:
    """Import the runtime a model file needs; missing: a ConfigError (exit 3) with the install command."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(
            f"'{path}' needs the package '{module}'; install it with `pip install {module}`"
        ) from exc


class OnnxNetwork:
    """An ONNX file run by onnxruntime (CUDA provider on a GPU device when present): tensor in, tensor out.

    The first input takes `(N, C_in, *spatial)` float32; the first output is returned on the input's device.
    """

    def __init__(self, path: Path, *, device: torch.device) -> None:
        onnxruntime = _optional("onnxruntime", path)
        providers = ["CPUExecutionProvider"]
        if device.type == "cuda" and "CUDAExecutionProvider" in onnxruntime.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        self.session = onnxruntime.InferenceSession(str(path), providers=providers)
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, inputs: torch.Tensor) -> torch.Tensor:
        array = inputs.detach().float().cpu().numpy()
        output = self.session.run(None, {self.input_name: array})[0]
        return torch.from_numpy(output).to(inputs.device)


class TensorRTNetwork:
    """A serialized TensorRT engine (`.trt`/`.plan`, built for this GPU) run on CUDA tensors, one input and one
    output (TensorRT ≥ 10's named-tensor API). Needs the `tensorrt` package and a GPU."""

    def __init__(self, path: Path, *, device: torch.device) -> None:
        if device.type != "cuda":
            raise ConfigError(
                f"'{path}' is a TensorRT engine, which runs only on a GPU; none is present here"
            )
        tensorrt = _optional("tensorrt", path)
        runtime = tensorrt.Runtime(tensorrt.Logger(tensorrt.Logger.WARNING))
        self.engine = runtime.deserialize_cuda_engine(path.read_bytes())
        if self.engine is None:
            raise ConfigError(
                f"'{path}': TensorRT cannot read this engine (built by another TensorRT or GPU?)"
            )
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        is_input = [self.engine.get_tensor_mode(n) == tensorrt.TensorIOMode.INPUT for n in names]
        self.input_name = next(n for n, i in zip(names, is_input, strict=True) if i)
        self.output_name = next(n for n, i in zip(names, is_input, strict=True) if not i)
        self.device = device

    def __call__(self, inputs: torch.Tensor) -> torch.Tensor:
        image = inputs.detach().float().to(self.device).contiguous()
        self.context.set_input_shape(self.input_name, tuple(image.shape))
        output = torch.empty(tuple(self.context.get_tensor_shape(self.output_name)), device=self.device)
        self.context.set_tensor_address(self.input_name, image.data_ptr())
        self.context.set_tensor_address(self.output_name, output.data_ptr())
        stream = torch.cuda.current_stream(self.device)
        self.context.execute_async_v3(stream.cuda_stream)
        stream.synchronize()
        return output.to(inputs.device)


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
    checkpoint_file_prefix: str = "model",
    input_node_names: Any = None,
    output_node_names: Any = None,
    infer_in_training_mode: bool = False,
) -> ModelLoader:
    """Clara 3.1's `CheckpointLoader`: the TF checkpoint `<checkpoint_dir>/<prefix>.ckpt` stands for the
    PyTorch file beside it (`<prefix>.ts`, `.onnx`, `.pt`)."""
    _tf_only("CheckpointLoader", input_node_names, output_node_names, infer_in_training_mode)
    return ModelLoader(str(Path(checkpoint_dir) / f"{checkpoint_file_prefix}.ckpt"), model_format="trtmodel")


def _tf_only(name: str, input_nodes: Any, output_nodes: Any, training_mode: bool) -> None:
    """TF graph tensor names do not apply to a PyTorch model (accepted, said at debug level); running in
    training mode (batch statistics at inference) is not something our loaders do, so it is refused."""
    if input_nodes or output_nodes:
        log.debug("%s: input/output node names name TensorFlow graph tensors; a PyTorch model has none", name)
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
