"""Translate AIAA's `config_aiaa.json` and the Clara Deploy operator's `config_inference.json` into the
standard sections of a validation config, so that both take the road `config_validation.json` takes
(clara_tlt.engines.assembly).

The sections: `pre_transforms`, `post_transforms`, `inferer`, `model_loader`, `writer`/`writers`. A model a
Triton server computes is loaded by `SERVED_MODEL_LOADER`; a scanning window the config leaves to such a model
(its fixed input size) is asked for under `WINDOW_FROM_MODEL` (the window's other arguments), since only the
loaded model knows it.

>>> operator_sections({"inferer": {"name": "TFSimpleInferer"}, "model_loader": {"name": "ModelLoader",
...     "args": {"model_file_path": "/m/model.ts"}}}, file="config_inference.json", folder=Path("."))["inferer"]
{'name': 'TFSimpleInferer', 'args': {}}
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from clara_tlt.config.component_spec import ComponentSpec, normalize_spec
from clara_tlt.errors import ConfigError, UsageError

BUILTIN_INFERENCES = ("TRTISInference", "TFInference")  # AIAA's own inference; any other name is custom code
# Arguments of Clara's TRTIS inferers and inference that name the server (the rest are the window's).
SERVER_ARGS = ("model_name", "ip", "port", "protocol", "output_type", "ready_timeout")
TRITON_LOADER = "TRTISModelLoader"  # in an operator config: the model is the one a Triton server serves
SERVED_MODEL_LOADER = "clara_tlt.aiaa.components.ServedModelLoader"
POINTS_ON_GRID = "clara_tlt.aiaa.components.PointsOnGrid"
WINDOW_FROM_MODEL = "window_from_model"
NO_WINDOW = "scanning-window inference needs 'roi_size' (or 'roi'), or a Triton model of fixed size"


def is_builtin(inference: Mapping[str, Any]) -> bool:
    """Whether `inference.name` is AIAA's own (Triton or TensorFlow) inference rather than a custom class."""
    return str(inference.get("name", BUILTIN_INFERENCES[0])) in BUILTIN_INFERENCES


def tensor_names(inference: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The model's input and output tensor names from the `tf` or `trtis` section (None: not said)."""
    tf = inference.get("tf") or {}
    field = str(inference.get("image", "image"))
    inputs, outputs = tf.get("input_nodes") or {}, tf.get("output_nodes") or {}
    triton = inference.get("trtis") or {}
    first = [(triton.get(k) or [{}])[0].get("name") for k in ("input", "output")]
    return inputs.get(field) or first[0], outputs.get("model") or first[1]


def aiaa_sections(data: Mapping[str, Any], *, file: str, model_path: str | Path | None) -> dict[str, Any]:
    """The standard sections of a checked AIAA config: `TRTISInference`/`TFInference` become a scanning-window
    (`scanning_window: true`, `roi`, `batch_size`) or whole-volume inferer of the model at `model_path`, or of
    the Triton model the inference's args name (`model_name`); a custom inference gets neither (its caller
    builds it). An `annotation` model gets the extreme-points channel from each case's points."""
    pre = list(data.get("pre_transforms") or [])
    if data.get("type") == "annotation" and not any(_is_points_channel(spec) for spec in pre):
        pre += [
            {"path": POINTS_ON_GRID},
            {"name": "AddExtremePointsChannel", "args": {"points_field": "points"}},
        ]
    sections: dict[str, Any] = {"pre_transforms": pre, "post_transforms": data.get("post_transforms") or []}
    if data.get("writer") is not None:
        sections["writers" if isinstance(data["writer"], list) else "writer"] = data["writer"]
    inference = data["inference"]
    if not is_builtin(inference):
        return sections
    args = dict(inference.get("args") or {})
    if args.get("model_name"):
        input_name, output_name = tensor_names(inference)
        served = {"input_name": input_name, "output_name": output_name}
        sections["model_loader"] = {"path": SERVED_MODEL_LOADER, "args": {"server": args, **served}}
    elif model_path:
        sections["model_loader"] = {"name": "ModelLoader", "args": {"model_file_path": str(model_path)}}
    else:
        raise UsageError(
            "no model: give --model_save_path (or 'model_name' of a Triton model in inference.args)"
        )
    if not args.get("scanning_window", False):
        sections["inferer"] = {"name": "SimpleInferer"}
        return sections
    window = {"batch_size": int(args.get("batch_size", 1))}
    if args.get("roi"):
        sections["inferer"] = {"name": "ScanWindowInferer", "args": {"roi_size": args["roi"], **window}}
    elif args.get("model_name"):
        sections[WINDOW_FROM_MODEL] = window
    else:
        raise ConfigError("scanning_window needs 'roi'", file=file, key_path="inference.args.roi")
    return sections


def operator_sections(data: Mapping[str, Any], *, file: str, folder: Path) -> dict[str, Any]:
    """The standard sections of an operator's validation config: with `TRTISModelLoader` the inferer's
    `model_name`, `ip`, `port`, `protocol` name the Triton model; another loader's relative model path is read
    beside the config (`folder`) when the file is there. The config's `writers` are left out: the operator
    writes its own."""
    if "inferer" not in data:
        raise ConfigError('the operator needs an "inferer" (e.g. TRTISScanWindowInferer)', file=file)
    inferer = normalize_spec(data["inferer"], file=file, key_path="inferer")
    if data.get("model_loader") is None:
        raise ConfigError(
            'the operator needs a "model_loader": TRTISModelLoader or a local model file', file=file
        )
    loader = normalize_spec(data["model_loader"], file=file, key_path="model_loader")
    served = loader.name == TRITON_LOADER
    sections: dict[str, Any] = {
        "pre_transforms": data.get("pre_transforms") or [],
        "post_transforms": data.get("post_transforms") or [],
        "model_loader": (
            {"path": SERVED_MODEL_LOADER, "args": {"server": _server_args(inferer.args)}}
            if served
            else _beside(loader, folder)
        ),
    }
    window = {k: v for k, v in inferer.args.items() if k not in SERVER_ARGS}
    if "ScanWindow" not in inferer.label:
        sections["inferer"] = {"name": inferer.label.replace("TRTIS", "TF"), "args": window}
    elif window.get("roi_size") is not None:
        sections["inferer"] = {"name": "ScanWindowInferer", "args": window}
    elif served:
        sections[WINDOW_FROM_MODEL] = {k: v for k, v in window.items() if k != "roi_size"}
    else:
        raise ConfigError(NO_WINDOW, file=file, key_path="inferer.args.roi_size")
    return sections


def _server_args(args: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in args.items() if k in SERVER_ARGS}


def _beside(loader: ComponentSpec, folder: Path) -> dict[str, Any]:
    """The loader's spec, its relative `model_file_path` (or `checkpoint_dir`) read beside the config when the
    model file is there (the operator's container runs in another working folder)."""
    args = dict(loader.args)
    for key, name in (
        ("model_file_path", ""),
        ("checkpoint_dir", f"{args.get('checkpoint_file_prefix', 'model')}.ckpt"),
    ):
        given = args.get(key)
        if given is not None and not Path(str(given)).is_absolute() and (folder / str(given) / name).exists():
            args[key] = str(folder / str(given))
    return {**({"path": loader.path} if loader.path else {"name": loader.name}), "args": args}


def _is_points_channel(spec: Any) -> bool:
    """Whether a pre-transform spec names `AddExtremePointsChannel` (by name, TLT prefix or path)."""
    if not isinstance(spec, Mapping):
        return False
    named = str(spec.get("name") or spec.get("path") or "").split("#")[0]
    return named.rpartition(".")[2] == "AddExtremePointsChannel"
