"""Build a Clara 4.x config's components, checked up front: what cannot run says so once, with file and key.

built = build_config(config, context=distributed.setup(), stage="train")   # or "evaluate"
built["train.trainer"].run()
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from clara_tlt.config.clara4 import modernise
from clara_tlt.config.federated import FEDERATED_KEYS
from clara_tlt.config.loader import ResolvedConfig
from clara_tlt.engines.clara4.handlers import CheckpointLoader, CheckpointSaver
from clara_tlt.engines.clara4.sections import KINDS, METRIC_KEYS, TRAIN_CONF, Globals, section_components
from clara_tlt.engines.distributed import Context, amp_enabled
from clara_tlt.errors import ConfigError, UsageError
from clara_tlt.factory.wiring import Component, build_components

log = logging.getLogger(__name__)
EVAL = "eval"  # the id prefix of a validation or inference config's (top-level) components
MODEL_KEYS = ("train.model", "model")


def build_config(
    config: ResolvedConfig,
    *,
    context: Context,
    stage: str,
    dry: bool = False,
    shard: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Every component of `config` by id (`train.model`, `validate.evaluator`, `eval.evaluator`, …); `stage`
    "train" builds a training config's `train` and `validate`, "evaluate" a validation/inference config
    (`shard` (I, N): on shard I of N of its datalist); `dry`: nothing that would write a file when built does so."""
    refuse_unsupported(config, context, stage=stage)
    run = Globals(
        epochs=_whole(config, "epochs", 1) if stage == "train" else 1,
        interval=_whole(config, "num_interval_per_valid", 1),
        amp=_amp(config, context),
        device=context.device,
        rank=context.rank,
        world_size=context.world_size,
        dry=dry,
        shard=shard,
    )
    components = _components(config, run=run, stage=stage)
    given = {TRAIN_CONF: plain_conf(config.data)}
    built = build_components(components, file=config.file, search_dirs=config.search_dirs, given=given)
    for key in ("train.model", f"{EVAL}.model"):  # MONAI's engines move the batches, Clara moved the network
        if isinstance(built.get(key), nn.Module):
            built[key].to(context.device)
    return built


def _components(config: ResolvedConfig, *, run: Globals, stage: str) -> list[Component]:
    data, file = config.data, config.file
    if stage != "train":
        section = {k: v for k, v in data.items() if k in KINDS or k in METRIC_KEYS}
        if "evaluator" not in section:
            raise ConfigError(
                'a Clara 4.x validation or inference config needs an "evaluator" (e.g. {"name": '
                '"SupervisedEvaluator"})',
                file=file,
            )
        return section_components(section, name=EVAL, path="", file=file, run=run, outer=_given())
    train, validate = data.get("train"), data.get("validate")
    if not isinstance(train, Mapping) or "trainer" not in train:
        raise ConfigError('training needs a "train" section with a "trainer"', file=file, key_path="train")
    outer = _given() | ({"evaluator": "validate.evaluator"} if isinstance(validate, Mapping) else {})
    components = section_components(train, name="train", path="train", file=file, run=run, outer=outer)
    if isinstance(validate, Mapping):
        shared = _given() | {key: f"train.{key}" for key in KINDS if key in train}
        components += section_components(
            validate, name="validate", path="validate", file=file, run=run, outer=shared
        )
    return components


def _given() -> dict[str, str]:
    return {TRAIN_CONF: TRAIN_CONF}


def refuse_unsupported(config: ResolvedConfig, context: Context, *, stage: str) -> None:
    """Refuse before any work what clara-tlt does not run: federated orchestration configs (exit 3), an
    evaluate or infer under torchrun with several processes (exit 2: MONAI's evaluator runs the list whole)."""
    if context.distributed and stage != "train":
        raise UsageError(
            f"{config.file}: a Clara 4.x evaluate or infer runs in one process; torchrun with "
            f"{context.world_size} processes is supported for training only: run the same command without torchrun"
        )
    federated = sorted(k for k in config.data if k in FEDERATED_KEYS)
    if federated or Path(config.file).name.startswith("config_fed_"):
        raise ConfigError(
            "Clara 4.x federated-learning server/client/admin configs are not run by clara-tlt (they orchestrate "
            "NVIDIA FLARE); run the MMAR's config/config_train.json with `clara-tlt train`",
            file=config.file,
            key_path=federated[0] if federated else None,
        )


def plain_conf(data: Mapping[str, Any]) -> dict[str, Any]:
    """The config a model file carries (`train_conf`): the network spec in the installed MONAI's names, so that
    evaluate, infer and export rebuild it from the model file alone."""
    conf = copy.deepcopy(dict(data))
    for key in MODEL_KEYS:
        section, _, slot = key.rpartition(".")
        holder = conf.get(section) if section else conf
        if isinstance(holder, dict) and isinstance(holder.get(slot), Mapping):
            holder[slot] = modernise(holder[slot], kind="network", file="train_conf", key_path=key)
    return conf


def savers_and_loaders(built: Mapping[str, Any]) -> tuple[list[CheckpointSaver], list[CheckpointLoader]]:
    """The config's checkpoint handlers, every section's."""
    handlers = [h for key, value in built.items() if key.endswith(".handlers") for h in value or []]
    savers = [h for h in handlers if isinstance(h, CheckpointSaver)]
    return savers, [h for h in handlers if isinstance(h, CheckpointLoader)]


def check_savers(built: Mapping[str, Any], folder: Path, *, file: str) -> None:
    """Checkpoints go into the model folder this training holds the lock of (one training per folder)."""
    for saver in savers_and_loaders(built)[0]:
        if saver.save_dir.resolve() != folder.resolve():
            raise ConfigError(
                f"CheckpointSaver's save_dir '{saver.save_dir}' is not the model folder {folder}; write "
                '"save_dir": "{MMAR_CKPT_DIR}" (one training per model folder, held by its lock)',
                file=file,
                key_path="handlers",
            )


def _whole(config: ResolvedConfig, name: str, default: int) -> int:
    value = config.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"must be a whole number ≥ 1, got {value!r}", file=config.file, key_path=name)
    return value


def _amp(config: ResolvedConfig, context: Context) -> bool:
    """The global `amp`, on a CUDA device; on a CPU one log line says it is off."""
    wanted = config.get("amp", False)
    if not isinstance(wanted, bool):
        raise ConfigError(f"must be true or false, got {wanted!r}", file=config.file, key_path="amp")
    enabled = amp_enabled(wanted, context.device)
    if wanted and not enabled:
        log.info("amp is true, but mixed precision needs a CUDA device: AMP is off for this run on the CPU")
    return enabled
