"""Training settings, read once from the config's globals and the command line: the trainer's one options object."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clara_tlt.config.globals import ENGINE_GLOBALS
from clara_tlt.config.loader import ResolvedConfig
from clara_tlt.errors import ConfigError

log = logging.getLogger(__name__)

# Clara's `determinism` keys → which generator they seed; `tf_seed` seeded TensorFlow and has no use here.
SEED_KEYS = ("python_seed", "numpy_seed", "random_seed")


@dataclass(frozen=True)
class Seeds:
    """Seeds of python's `random`, numpy and torch (`random_seed` also seeds the image pipelines)."""

    python: int
    numpy: int
    torch: int


@dataclass(frozen=True)
class TrainOptions:
    """What the trainer and its handlers need from the config and the command line."""

    model_dir: Path
    epochs: int
    validate_every: int
    use_amp: bool
    seeds: Seeds | None
    summary_interval: int
    use_tf32: bool | None
    partial_load: bool
    checkpoint: Path | None = None
    resume: bool = True
    force: bool = False

    @classmethod
    def from_config(
        cls, config: ResolvedConfig, *, model_dir: Path, resume: bool = True, force: bool = False
    ) -> TrainOptions:
        """Read the globals (`epochs`, `num_training_epoch_per_valid`, `use_amp`, `determinism`, …) and
        `MMAR_CKPT` (the weights to fine-tune from), checking each one's type."""
        checkpoint = config.variables.get("MMAR_CKPT") or None
        if _flag(config, "use_xla"):
            log.info("use_xla: XLA compiled TensorFlow graphs; PyTorch runs the network as it is (no effect)")
        return cls(
            model_dir=model_dir,
            epochs=_positive_int(config, "epochs"),
            validate_every=_positive_int(config, "num_training_epoch_per_valid"),
            use_amp=_flag(config, "use_amp"),
            seeds=_seeds(config),
            summary_interval=_interval(config, "train_summary_recording_interval"),
            use_tf32=None if _value(config, "use_tf32") is None else _flag(config, "use_tf32"),
            partial_load=_flag(config, "partial_load"),
            checkpoint=Path(checkpoint) if checkpoint else None,
            resume=resume,
            force=force,
        )


def _value(config: ResolvedConfig, name: str) -> Any:
    return config.get(name, ENGINE_GLOBALS[name])


def _positive_int(config: ResolvedConfig, name: str) -> int:
    value = _value(config, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"must be a whole number ≥ 1, got {value!r}", file=config.file, key_path=name)
    return value


def _interval(config: ResolvedConfig, name: str) -> int:
    value = _value(config, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(
            f"must be a whole number of iterations ≥ 0 (0: once per epoch), got {value!r}",
            file=config.file,
            key_path=name,
        )
    return value


def _flag(config: ResolvedConfig, name: str) -> bool:
    value = _value(config, name)
    if not isinstance(value, bool):
        raise ConfigError(f"must be true or false, got {value!r}", file=config.file, key_path=name)
    return value


def _seeds(config: ResolvedConfig) -> Seeds | None:
    section = _value(config, "determinism")
    if section is None:
        return None
    if not isinstance(section, dict):
        raise ConfigError(
            'must be an object such as {"random_seed": 123, "numpy_seed": 456, "python_seed": 789}',
            file=config.file,
            key_path="determinism",
        )
    unknown = sorted(set(section) - set(SEED_KEYS) - {"tf_seed"})
    if unknown:
        raise ConfigError(
            f"unknown seed(s) {', '.join(unknown)}; accepted: {', '.join(SEED_KEYS)}, tf_seed",
            file=config.file,
            key_path="determinism",
        )
    if "tf_seed" in section:
        log.debug("determinism.tf_seed seeded TensorFlow; it is accepted and has no effect here")
    values: dict[str, int] = {}
    for key in SEED_KEYS:
        raw: Any = section.get(key, section.get("random_seed", 0))
        try:
            values[key] = int(raw)  # the seed writes "python_seed": "20191201" as a string
        except (TypeError, ValueError):
            raise ConfigError(
                f"must be a whole number, got {raw!r}", file=config.file, key_path=f"determinism.{key}"
            ) from None
    return Seeds(python=values["python_seed"], numpy=values["numpy_seed"], torch=values["random_seed"])
