"""Run a Clara 4.x config on MONAI's own engines: `train`, and `evaluate` (validation and inference configs).

    summary = train(config)                 # models/model.pt, model_final.pt, train_state.pt, TensorBoard
    summary = evaluate(config)              # the evaluator's metrics; MetricsSaver / SaveImaged write their files

Training holds the model folder's lock, resumes from `train_state.pt` (written atomically after every epoch),
and runs the preflight a dry run runs (`dry=True`: everything built and checked, nothing trained or written).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from torch.nn.parallel import DistributedDataParallel

from clara_tlt.atomic import write_text_atomic
from clara_tlt.config.loader import ResolvedConfig
from clara_tlt.engines import distributed
from clara_tlt.engines.clara4.build import (
    EVAL,
    build_config,
    check_savers,
    refuse_unsupported,
    savers_and_loaders,
)
from clara_tlt.engines.clara4.outputs import check_saved_names
from clara_tlt.engines.clara4.sections import EVAL_DATASET, datalist_entries
from clara_tlt.engines.clara4.state import TrainState
from clara_tlt.engines.handlers.checkpoint import BEST, FINAL, STATE
from clara_tlt.engines.preflight import DEFAULT_CHECKS, SUMMARY, Preflight, RunChecks, preflight
from clara_tlt.engines.training import checked_run
from clara_tlt.errors import ConfigError, Interrupted
from clara_tlt.io.outputs import check_output_folder

log = logging.getLogger(__name__)
RESOLVED_CONFIG = "train_config.json"


def train(config: ResolvedConfig, checks: RunChecks = DEFAULT_CHECKS, *, dry: bool = False) -> dict[str, Any]:
    """Train (or with `dry`, build and check) a Clara 4.x training config in the model folder `checks` name;
    returns the summary or the plan."""
    context = distributed.setup()
    try:
        refuse_unsupported(config, context, stage="train")
        with _checked(resumable(config), context, checks, dry=dry) as checked:
            _determinism(checked.options.seeds, benchmark=config.get("cudnn_benchmark") is True)
            built = build_config(config, context=context, stage="train", dry=dry)
            folder = checked.folder.path
            check_savers(built, folder, file=config.file)
            if dry:
                return {"config": config.file, "components": _shown(built)} | checked.describe()
            if context.distributed:  # the gradients averaged over the processes; the plain network is saved
                built["train.trainer"].network = DistributedDataParallel(built["train.model"])
            state = TrainState(
                folder / STATE,
                built["train.trainer"],
                evaluator=built.get("validate.evaluator"),
                scheduler=built.get("train.lr_scheduler"),
                config=resumable(config).data,
            )
            return _fit(built, state, config, checked.saved, folder)
    finally:
        distributed.teardown(context)


def _checked(
    config: ResolvedConfig, context: distributed.Context, checks: RunChecks, *, dry: bool
) -> AbstractContextManager[Preflight]:
    """The 3.x trainer's preflight: rank 0 holds the model folder's lock and clears what a killed run left, the
    other ranks follow its decision to resume; a dry run only checks."""
    if dry:
        return preflight(config, checks, hold_lock=False)
    return checked_run(config, context, checks)


def resumable(config: ResolvedConfig) -> ResolvedConfig:
    """The config a resumed run is compared with: the trainer's `max_epochs` left out where it is the `epochs`
    global (`"{epochs}"`), so that `--set epochs=N` trains on, as in Clara 3.x."""
    trainer = (config.data.get("train") or {}).get("trainer")
    args = trainer.get("args") if isinstance(trainer, dict) else None
    if not isinstance(args, dict) or args.get("max_epochs") != config.get("epochs"):
        return config
    data = copy.deepcopy(config.data)
    del data["train"]["trainer"]["args"]["max_epochs"]
    return dataclasses.replace(config, data=data)


def _fit(
    built: Mapping[str, Any], state: TrainState, config: ResolvedConfig, saved: Any, folder: Path
) -> dict[str, Any]:
    """Resume or start, run the trainer to `max_epochs`, write the summary; Ctrl-C is exit 130 with the state of
    the last whole epoch kept."""
    trainer = built["train.trainer"]
    if saved is not None:
        state.restore(saved)
        for loader in savers_and_loaders(built)[1]:
            loader.skip = True  # the resumed weights win over the fine-tuning checkpoint
        log.info("Resuming from %s: %d epoch(s) done", folder / STATE, trainer.state.epoch)
    if distributed.is_main_rank():
        write_text_atomic(folder / RESOLVED_CONFIG, json.dumps(config.data, indent=2, default=str) + "\n")
    if saved is None:
        state.capture()  # fails now, not after an epoch, when something cannot be saved
    state.attach()
    started, first = time.perf_counter(), trainer.state.iteration
    resumed = trainer.state.epoch if saved is not None else None
    if trainer.state.epoch >= trainer.state.max_epochs:
        log.info("%d epoch(s) already trained; raise epochs to train on", trainer.state.epoch)
    else:
        try:
            trainer.run()
        except KeyboardInterrupt:
            raise Interrupted(
                f"interrupted: {folder / STATE} holds the last whole epoch; run the same command to resume"
            ) from None
    summary = _summary(built, folder, time.perf_counter() - started, trainer.state.iteration - first)
    return summary | {"resumed_from_epoch": resumed}


def _summary(built: Mapping[str, Any], folder: Path, seconds: float, iterations: int) -> dict[str, Any]:
    trainer, evaluator = built["train.trainer"], built.get("validate.evaluator")
    best = getattr(evaluator, "state", None)
    summary = {
        "model_dir": str(folder),
        "key_metric": getattr(best, "key_metric_name", None),
        "best_metric": _number(getattr(best, "best_metric", None)) if best is not None else None,
        "best_epoch": getattr(best, "best_metric_epoch", None) if best is not None else None,
        "final_metrics": {k: _number(v) for k, v in trainer.state.metrics.items()},
        "epochs": trainer.state.epoch,
        "iterations": trainer.state.iteration,
        "wall_time_s": round(seconds, 3),
        "iterations_per_s": round(iterations / seconds, 3) if seconds > 0 else None,
        "files": {name: str(folder / name) for name in (BEST, FINAL, STATE, RESOLVED_CONFIG, SUMMARY)},
        "history": [],
    }
    if summary["best_epoch"] is not None and summary["best_epoch"] < 0:
        summary["best_metric"] = summary["best_epoch"] = None
    if distributed.is_main_rank():
        write_text_atomic(folder / SUMMARY, json.dumps(summary, indent=2, default=str) + "\n")
    return summary


def evaluate(
    config: ResolvedConfig, *, dry: bool = False, shard: tuple[int, int] | None = None
) -> dict[str, Any]:
    """Run a Clara 4.x validation or inference config's evaluator over its dataset (`shard` (I, N): shard I of N
    of it, `--shard I/N`); returns the metrics."""
    context = distributed.setup()
    try:
        output = config.variables.get("MMAR_EVAL_OUTPUT_PATH")
        if output:
            check_output_folder(output, flag="MMAR_EVAL_OUTPUT_PATH")
        built = build_config(config, context=context, stage="evaluate", dry=dry, shard=shard)
        if not savers_and_loaders(built)[1]:
            raise ConfigError(
                'no CheckpointLoader loads trained weights into the model; add {"name": "CheckpointLoader", '
                '"args": {"load_path": "{MMAR_CKPT}", "load_dict": ["model"]}} to "handlers"',
                file=config.file,
                key_path="handlers",
            )
        evaluator = built[f"{EVAL}.evaluator"]
        dataset = getattr(evaluator.data_loader, "dataset", None)
        cases = len(dataset or [])
        # over the whole list, so that two shards never write one file either: read again only when sharded
        whole = (
            datalist_entries(config.data.get(EVAL_DATASET), file=config.file, key_path=EVAL_DATASET)
            if shard
            else None
        )
        entries = whole or getattr(dataset, "data", None) or []
        check_saved_names(built.get(f"{EVAL}.post_transforms"), entries, file=config.file)
        if dry:
            return {"config": config.file, "components": _shown(built), "cases": cases, "output_path": output}
        if shard is not None and not cases:
            message = (
                f"shard {shard[0]}/{shard[1]} holds no case (fewer cases than shards); nothing was written"
            )
            return {"cases": 0, "seconds": 0.0, "metrics": {}, "output_path": output, "empty_shard": message}
        started = time.perf_counter()
        evaluator.run()
        metrics = {k: _number(v) for k, v in evaluator.state.metrics.items()}
        seconds = round(time.perf_counter() - started, 3)
        return {"cases": cases, "seconds": seconds, "metrics": metrics, "output_path": output}
    finally:
        distributed.teardown(context)


def _shown(built: Mapping[str, Any]) -> list[str]:
    """What a dry run lists: the config's sections by key (metrics through key_metric / additional_metrics)."""
    return sorted(k for k in built if "._metric_" not in k and k != "train_conf")


def _determinism(seeds: Any, *, benchmark: bool) -> None:
    """`determinism`: MONAI's set_determinism with the config's random_seed; `cudnn_benchmark`: cuDNN autotuning."""
    if benchmark:
        import torch

        torch.backends.cudnn.benchmark = True
    if seeds is not None:
        from monai.utils import set_determinism

        set_determinism(seed=seeds.torch)


def _number(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return value
