"""`train_state.pt`: everything a crashed or interrupted run needs to go on where it stopped.

Weights, optimizer, lr policy, AMP scaler, the trainer's counters and history, every RNG state (python, numpy,
torch, CUDA), and the resolved config, which a resumed run must match (only `epochs` may change, to train on).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from clara_tlt.engines.checkpoint import unwrap
from clara_tlt.engines.trainer import Trainer, TrainState
from clara_tlt.errors import ConfigError

# Globals a resumed run may change without starting over.
RESUMABLE_CHANGES = frozenset({"epochs"})


def capture(trainer: Trainer, train_conf: Mapping[str, Any]) -> dict[str, Any]:
    """The full state of `trainer` as tensors and plain data (loadable with weights_only=True)."""
    setup = trainer.setup
    return {
        "model": unwrap(setup.network).state_dict(),
        "optimizer": setup.optimizer.state_dict(),
        "lr_policy": setup.lr_policy.state_dict() if setup.lr_policy is not None else None,
        "scaler": setup.scaler.state_dict(),
        "trainer": trainer.state.as_dict() | {"stop_requested": False},
        "rng": _rng_states(),
        "train_conf": dict(train_conf),
    }


def restore(trainer: Trainer, saved: Mapping[str, Any]) -> None:
    """Put a captured state back into `trainer` (its setup built from the same config)."""
    setup = trainer.setup
    unwrap(setup.network).load_state_dict(saved["model"])
    setup.optimizer.load_state_dict(saved["optimizer"])
    if setup.lr_policy is not None and saved.get("lr_policy") is not None:
        setup.lr_policy.load_state_dict(saved["lr_policy"])
    if saved.get("scaler"):
        setup.scaler.load_state_dict(saved["scaler"])
    trainer.state = TrainState.from_dict(saved["trainer"])
    _set_rng_states(saved["rng"])


def check_same_config(saved_conf: Mapping[str, Any], current: Mapping[str, Any], *, file: str) -> None:
    """Refuse to resume a state trained under another config; name the keys that differ."""
    before, now = dict(_flatten(saved_conf)), dict(_flatten(current))
    differing = sorted(
        k
        for k in before.keys() | now.keys()
        if before.get(k) != now.get(k) and k.split(".")[0] not in RESUMABLE_CHANGES
    )
    if differing:
        shown = "\n".join(
            f"  {k}: {before.get(k, '(absent)')!r} → {now.get(k, '(absent)')!r}" for k in differing[:10]
        )
        more = f"\n  … and {len(differing) - 10} more" if len(differing) > 10 else ""
        raise ConfigError(
            f"the model folder holds the state of a run with another config; differing keys:\n{shown}{more}\n"
            "Restore those values to resume, or start over with --no-resume --force (the old run is overwritten)",
            file=file,
        )


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, Mapping):
        return [item for k, v in value.items() for item in _flatten(v, f"{prefix}.{k}" if prefix else str(k))]
    if isinstance(value, list):
        return [item for i, v in enumerate(value) for item in _flatten(v, f"{prefix}[{i}]")]
    return [(prefix, value)]


def _rng_states() -> dict[str, Any]:
    kind, keys, position, has_gauss, gauss = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def _set_rng_states(states: Mapping[str, Any]) -> None:
    python = states["python"]
    random.setstate((python[0], tuple(python[1]), python[2]))
    numpy = states["numpy"]
    np.random.set_state(
        (
            numpy["kind"],
            numpy["keys"].numpy().astype(np.uint32),
            numpy["position"],
            numpy["has_gauss"],
            numpy["gauss"],
        )
    )
    torch.set_rng_state(states["torch"])
    if torch.cuda.is_available() and states.get("cuda"):
        torch.cuda.set_rng_state_all(states["cuda"])
