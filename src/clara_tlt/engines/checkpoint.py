"""Checkpoint files: written atomically and durably, read with `torch.load(weights_only=True)`.

`model.pt` / `model_final.pt` hold `{"model": state_dict, "train_conf": resolved config, "epoch": int,
"metric": float | None}`: the Clara 4.x form that `monai.apps.load_from_mmar` reads. Fine-tuning loads such a
file or a bare state dict into a network, strictly by default or, with `partial`, the tensors whose names and
shapes match (a new head).
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from clara_tlt.atomic import atomic_path
from clara_tlt.config.loader import ResolvedConfig
from clara_tlt.config.slots import network_spec
from clara_tlt.engines import profile
from clara_tlt.errors import ClaraError, ConfigError
from clara_tlt.factory.origin import FIX, ModelFile
from clara_tlt.formats.suffixes import TF_SUFFIXES

MODEL_KEY = "model"
# The way out when the config's network does not fit a checkpoint that names its own (infer, evaluate, deploy).
CONFIG_FIX = (
    "The config's `model` section names another network than the one the checkpoint was trained as: remove "
    "that section from the config, and the checkpoint's own network (its train_conf) is used"
)
# What torch.load says when `weights_only=True` meets a pickled object it will not rebuild.
WEIGHTS_ONLY_REFUSAL = "Weights only load failed"
# The way out of a checkpoint that does not fit, when the network came from the fine-tuning config.
FINE_TUNE_FIX = (
    "Use the network the checkpoint was trained with, or --set partial_load=true to load the matching tensors "
    "only (e.g. for a new head)"
)


def save_checkpoint(path: str | Path, payload: Mapping[str, Any]) -> Path:
    """Write `payload` (tensors and plain data only) so that a crash at any moment leaves the old file or the new.

    Saved through a Python file object, not a path: PyTorch's own file writer reports a full disk as
    "basic_ios::clear: iostream error", a file object's write raises the OSError that `atomic_path` turns
    into a WriteError naming the file and its device (the older file kept).
    """
    path = Path(path)
    with profile.current().stage(profile.CHECKPOINT):
        with atomic_path(path) as tmp, tmp.open("wb") as handle:
            torch.save(dict(payload), handle)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint (weights only: no code in it runs); a missing or unreadable file names itself."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"checkpoint '{path}' not found")
    if path.name.endswith(TF_SUFFIXES):
        raise ConfigError(
            f"'{path}' is a TensorFlow/Keras checkpoint, which PyTorch cannot load; give a .pt file written by "
            "clara-tlt train (or a PyTorch state dict)"
        )
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if WEIGHTS_ONLY_REFUSAL not in str(exc):
            raise ClaraError(f"cannot read checkpoint '{path}': {type(exc).__name__}: {exc}") from exc
        raise _code_objects(path, str(exc)) from None
    except Exception as exc:
        raise ClaraError(f"cannot read checkpoint '{path}': {type(exc).__name__}: {exc}") from exc
    if not isinstance(loaded, dict):
        raise ConfigError(f"checkpoint '{path}' holds a {type(loaded).__name__}, not a state dict")
    return loaded


def _code_objects(path: Path, reason: str) -> ConfigError:
    """A checkpoint holding pickled code (a function, a class instance): refused, with no way to load it anyway
    (PyTorch's own advice, `weights_only=False`, would run that code)."""
    named = sorted(set(re.findall(r"GLOBAL ([\w.]+)", reason)))
    which = f" ({', '.join(named)})" if named else ""
    return ConfigError(
        f"checkpoint '{path}' holds code objects{which}, not only tensors and plain data, and was refused: "
        "a model file is data, and loading code from it would run that code. Use a checkpoint written by "
        "clara-tlt train, or save the network's state_dict() (tensors only) and load that"
    )


def model_payload(
    network: nn.Module, train_conf: Mapping[str, Any], *, epoch: int, metric: float | None
) -> dict[str, Any]:
    """The `model.pt` dict of `network` after `epoch` completed epochs, scoring `metric` on the key metric."""
    return {
        MODEL_KEY: unwrap(network).state_dict(),
        "train_conf": dict(train_conf),
        "epoch": epoch,
        "metric": metric,
    }


def unwrap(network: nn.Module) -> nn.Module:
    """The network inside DistributedDataParallel (whose parameter names carry a `module.` prefix)."""
    inner = getattr(network, "module", None)
    return inner if isinstance(inner, nn.Module) else network


def state_dict_of(checkpoint: Mapping[str, Any]) -> dict[str, Any]:
    """The weights of a `model.pt` dict, or the dict itself when it is a bare state dict."""
    inner = checkpoint.get(MODEL_KEY)
    return dict(inner) if isinstance(inner, Mapping) else dict(checkpoint)


def load_weights(network: nn.Module, source: str | Path, *, partial: bool = False) -> list[str]:
    """Load the weights of checkpoint `source` into `network`; returns the names loaded.

    Strict: every name and shape must match, else a `ConfigError` lists the missing, unexpected and mismatched
    names. `partial`: load only the tensors whose names and shapes match (at least one must).
    """
    weights = state_dict_of(load_checkpoint(source))
    if partial:
        own = unwrap(network).state_dict()
        matching = {k: v for k, v in weights.items() if k in own and tuple(own[k].shape) == tuple(v.shape)}
        if not matching:
            raise ConfigError(f"checkpoint '{source}' shares no tensor (name and shape) with this network")
        unwrap(network).load_state_dict(matching, strict=False)
        return sorted(matching)
    load_state(network, weights, source=str(source), fix=FINE_TUNE_FIX)
    return sorted(weights)


def load_state(network: nn.Module, weights: Mapping[str, Any], *, source: str, fix: str) -> None:
    """Load `weights` strictly; on any mismatch a `ConfigError` lists missing, unexpected and reshaped names,
    then `fix`, the way out that works for the command at hand."""
    target = unwrap(network)
    own = target.state_dict()
    missing = sorted(set(own) - set(weights))
    unexpected = sorted(set(weights) - set(own))
    mismatched = sorted(k for k in set(own) & set(weights) if tuple(own[k].shape) != tuple(weights[k].shape))
    if missing or unexpected or mismatched:
        raise ConfigError(
            f"checkpoint '{source}' does not fit this network:"
            + _listing("missing", missing)
            + _listing("unexpected", unexpected)
            + _listing(
                "different shape",
                [f"{k} {tuple(weights[k].shape)} vs {tuple(own[k].shape)}" for k in mismatched],
            )
            + f"\n{fix}"
        )
    target.load_state_dict(dict(weights), strict=True)


def _listing(label: str, names: list[str], shown: int = 8) -> str:
    if not names:
        return ""
    more = f" … and {len(names) - shown} more" if len(names) > shown else ""
    return f"\n  {label} ({len(names)}): {', '.join(names[:shown])}{more}"


def model_spec_of(train_conf: Any) -> dict[str, Any] | None:
    """The network spec of a resolved training config (where: clara_tlt.config.slots.NETWORK_KEYS)."""
    return network_spec(train_conf)[0]


def network_inject(train_conf: Any) -> dict[str, Any]:
    """What a network is built with besides its own args: `input_image_size`, the training pipeline's
    `output_crop_size` as written (SegResnet's VAE reconstructs crops of that size)."""
    train = train_conf.get("train") if isinstance(train_conf, Mapping) else None
    pipeline = train.get("image_pipeline") if isinstance(train, Mapping) else None
    args = pipeline.get("args") if isinstance(pipeline, Mapping) else None
    crop = args.get("output_crop_size") if isinstance(args, Mapping) else None
    if isinstance(crop, list) and all(isinstance(s, int) and not isinstance(s, bool) for s in crop):
        return {"input_image_size": crop}
    return {}


@dataclass(frozen=True)
class ConfigNetwork:
    """The network a user's config names, built instead of a checkpoint's own, and where it stands: an error
    in it names that file and key path, not the checkpoint."""

    spec: dict[str, Any]
    file: str
    key_path: str


def config_network(config: ResolvedConfig) -> ConfigNetwork | None:
    """The network `config` names (where: clara_tlt.config.slots.NETWORK_KEYS), or None when it names none."""
    spec, key = network_spec(config.data)
    return None if spec is None else ConfigNetwork(spec, config.file, key)


def network_from_checkpoint(
    path: str | Path,
    *,
    model_spec: ConfigNetwork | None = None,
    search_dirs: Sequence[Path] = (),
    refusal_fix: str = FIX,
    config_fix: str = CONFIG_FIX,
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the network a `model.pt` was trained as (from its `train_conf`, or `model_spec`, the user's
    config's, when given) and load its weights strictly; returns (network in eval mode, the checkpoint dict).

    The checkpoint's own spec is data: it may name registered components only, and a `path` only into
    `search_dirs` (the MMAR's custom/ and lib/); `refusal_fix` is the way out a refusal gives. `config_fix`:
    what to do when `model_spec` does not fit the weights. Example:
    `network, checkpoint = network_from_checkpoint("models/model.pt")`.
    """
    from clara_tlt.factory.registry import build

    checkpoint = load_checkpoint(path)
    own, key = network_spec(checkpoint.get("train_conf"))
    spec = model_spec.spec if model_spec is not None else own
    if spec is None:
        raise ConfigError(
            f"checkpoint '{path}' does not say which network it holds (no train_conf); give a config whose "
            "train.model (or model) section names the network"
        )
    args = dict(spec.get("args") or {})
    args.pop("pretrain_weight_name", None)  # the trained weights come from the checkpoint itself
    where = (
        {"file": str(path), "key_path": f"train_conf.{key}"}
        if model_spec is None
        else {"file": model_spec.file, "key_path": model_spec.key_path}
    )
    origin = None if model_spec is not None else ModelFile(str(path), tuple(search_dirs), refusal_fix)
    network = build(
        {**spec, "args": args},
        "network",
        **where,
        inject=network_inject(checkpoint.get("train_conf")),
        search_dirs=search_dirs,
        origin=origin,
    )
    if model_spec is None:
        fix = "The weights do not fit the network of the checkpoint's own train_conf: the file is damaged or edited"
    else:
        fix = (
            config_fix if own is not None else "Name the network the checkpoint was trained as in the config"
        )
    load_state(network, state_dict_of(checkpoint), source=str(path), fix=fix)
    return network.eval(), checkpoint
