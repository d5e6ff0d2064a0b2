"""Model file suffixes: which format a file is (`format_of`), its base name (`base_path`), Clara's TF ones.

Clara's TensorFlow model and checkpoint suffixes (`TF_SUFFIXES`), which users' configs and scripts still
name, cannot be loaded by PyTorch: model loaders take the PyTorch file beside one (`model.trt.pb` →
`model.pt`), weight loaders refuse one with a message. Longest first, so `.trt.pb` is matched before `.pb`.
Imports only the errors (the command line reads it without loading torch).
"""

from __future__ import annotations

from pathlib import Path

from clara_tlt.errors import ConfigError

TF_SUFFIXES = (".trt.pb", ".pb", ".ckpt", ".index", ".meta", ".h5", ".hdf5", ".graphdef")

CHECKPOINT, TORCHSCRIPT, ONNX, TENSORRT = "checkpoint", "torchscript", "onnx", "tensorrt"
SUFFIXES = {CHECKPOINT: (".pt", ".pth"), TORCHSCRIPT: (".ts",), ONNX: (".onnx",), TENSORRT: (".trt", ".plan")}


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
