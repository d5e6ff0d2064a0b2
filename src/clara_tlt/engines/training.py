"""`train(config)`: the training command as a library call, a short sequence of named steps.

    config = load_config("config/config_train.json", environment_path="config/environment.json", mmar_root=".")
    summary = train(config)          # writes model.pt, model_final.pt, train_state.pt, TensorBoard events, …

Rerunning on a model folder that holds `train_state.pt` resumes; `RunChecks(resume=False)` starts over (with
`force`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from clara_tlt.atomic import write_text_atomic
from clara_tlt.config.loader import ResolvedConfig
from clara_tlt.config.slots import NETWORK_KEYS
from clara_tlt.engines import distributed, profile, train_state
from clara_tlt.engines.checkpoint import load_checkpoint, load_weights, save_checkpoint
from clara_tlt.engines.distributed import Context, amp_enabled
from clara_tlt.engines.evaluation import key_metric_name
from clara_tlt.engines.handlers import CheckpointSaver, Progress, StopOnSignal, TensorBoard
from clara_tlt.engines.handlers.checkpoint import BEST, FINAL, STATE
from clara_tlt.engines.model_folder import model_folder
from clara_tlt.engines.options import Seeds, TrainOptions
from clara_tlt.engines.preflight import DEFAULT_CHECKS, SUMMARY, Preflight, RunChecks, preflight
from clara_tlt.engines.trainer import Handler, Trainer, TrainSetup
from clara_tlt.engines.validation import validator
from clara_tlt.engines.workflow import Workflow, build_workflow
from clara_tlt.errors import ClaraError, ConfigError
from clara_tlt.metrics.base import names_without

log = logging.getLogger(__name__)
RESOLVED_CONFIG = "train_config.json"
REQUIRED = ("loss", "optimizer", "image_pipeline")
MEMORY_KEYS = (
    "train.image_pipeline.args.output_batch_size",
    "the crop size of train.pre_transforms (e.g. FastCropByPosNegRatio size / batch_size)",
    "validate.inferer.args.roi_size or batch_size",
)


def train(config: ResolvedConfig, checks: RunChecks = DEFAULT_CHECKS) -> dict[str, Any]:
    """Train the model `config` describes (in the model folder `checks` name); returns the summary also written
    to `train_summary.json`."""
    context = distributed.setup()
    workflow = None
    try:
        with checked_run(config, context, checks) as checked:
            options = checked.options
            _seed(options.seeds)
            if options.use_tf32 is not None:  # Clara's use_tf32: TF32 matrix products on Ampere or newer GPUs
                torch.backends.cuda.matmul.allow_tf32 = options.use_tf32
                torch.backends.cudnn.allow_tf32 = options.use_tf32
            shard = (context.rank, context.world_size) if context.distributed else None
            with profile.current().stage(profile.SET_UP):
                workflow = build_workflow(config, default_data_list_key="training", shard=shard)
                trainer = _trainer(workflow, checked, context)
            started = time.perf_counter()
            first_iteration = trainer.state.iteration
            trainer.fit()
            return _summary(trainer, workflow, time.perf_counter() - started, first_iteration)
    except torch.cuda.OutOfMemoryError as exc:
        raise ClaraError(
            "out of GPU memory; lower " + ", ".join(MEMORY_KEYS) + " (with --set), or turn use_amp on"
        ) from exc
    finally:
        if workflow is not None:
            for key in ("train.image_pipeline", "validate.image_pipeline"):
                pipeline = workflow.get(key)
                if pipeline is not None:
                    pipeline.close()
        distributed.teardown(context)


@contextlib.contextmanager
def checked_run(config: ResolvedConfig, context: Context, checks: RunChecks) -> Iterator[Preflight]:
    """Rank 0 runs the preflight, holds the model folder's lock for the whole run and clears what a killed run or
    `--force` leaves; the other ranks follow its decision to resume (reading the same train_state.pt) or not."""
    if context.is_main:
        with preflight(config, checks, hold_lock=True) as checked:
            distributed.broadcast_from_main(checked.saved is not None, context)
            for path in checked.folder.remove_incomplete():
                log.info("Removed %s, left by a write that was cut short", path)
            for path in checked.previous:  # --force: the earlier run goes
                path.unlink()
            yield checked
        return
    folder = model_folder(config, checks.model_dir)
    options = TrainOptions.from_config(
        config, model_dir=folder.path, resume=checks.resume, force=checks.force
    )
    resuming = distributed.broadcast_from_main(False, context)
    saved = load_checkpoint(folder.path / STATE) if resuming else None
    yield Preflight(options=options, folder=folder, saved=saved)


def _seed(seeds: Seeds | None) -> None:
    """Seed python, numpy and torch, and choose deterministic kernels (or cuDNN autotuning without seeds)."""
    if seeds is None:
        torch.backends.cudnn.benchmark = True
        return
    random.seed(seeds.python)
    np.random.seed(seeds.numpy % 2**32)
    torch.manual_seed(seeds.torch)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def _trainer(workflow: Workflow, checked: Preflight, context: Context) -> Trainer:
    """Build the setup and the handlers, then fine-tune or resume as the preflight decided.

    A fresh start writes `train_state.pt` before anything else, so a crash at any later moment (even right
    after the first `model.pt`) leaves a state that the same command resumes from."""
    config, options = workflow.config, checked.options
    network = next((workflow.get(k) for k in NETWORK_KEYS if workflow.get(k) is not None), None)
    missing = ["a network (train.model or net_config)"] if network is None else []
    missing += [f"train.{slot}" for slot in REQUIRED if workflow.get(f"train.{slot}") is None]
    if missing:
        raise ConfigError(f"training needs {', '.join(missing)}", file=config.file, key_path="train")
    assert network is not None
    network = network.to(context.device)
    if checked.saved is None:
        _fine_tune(network, options)
    setup = _setup(workflow, network, options, context)
    handlers = _handlers(workflow, options, context)
    trainer = Trainer(setup=setup, options=options, handlers=handlers)
    if checked.saved is not None:
        train_state.restore(trainer, checked.saved)
        log.info(
            "Resuming from %s: %d epoch(s) and %d iteration(s) done",
            options.model_dir / STATE,
            trainer.state.epoch,
            trainer.state.iteration,
        )
    if context.is_main:
        write_text_atomic(options.model_dir / RESOLVED_CONFIG, _json(config.data))
        if checked.saved is None:
            save_checkpoint(options.model_dir / STATE, train_state.capture(trainer, config.data))
    return trainer


def _fine_tune(network: nn.Module, options: TrainOptions) -> None:
    """Load `-c`/MMAR_CKPT, else the network's `pretrain_weight_name`, strictly unless `partial_load`."""
    source = options.checkpoint or getattr(network, "pretrained_weights", None)
    if source is None:
        return
    loaded = load_weights(network, source, partial=options.partial_load)
    log.info(
        "Fine-tuning from %s: %d tensor(s) loaded%s",
        source,
        len(loaded),
        " (partial)" if options.partial_load else "",
    )


def _setup(workflow: Workflow, network: nn.Module, options: TrainOptions, context: Context) -> TrainSetup:
    amp = amp_enabled(options.use_amp, context.device)
    if options.use_amp and not amp:
        log.info("use_amp is ignored on CPU: mixed precision needs a CUDA device")
    if context.distributed:
        ids = [context.device.index] if context.device.type == "cuda" else None
        network = nn.parallel.DistributedDataParallel(network, device_ids=ids)
    return TrainSetup(
        network=network,
        loss=workflow.get("train.loss"),
        optimizer=workflow.get("train.optimizer"),
        lr_policy=workflow.get("train.lr_policy"),
        train_data=workflow.get("train.image_pipeline"),
        scaler=torch.amp.GradScaler(context.device.type, enabled=amp),
        context=context,
        amp=amp,
        validate=validator(workflow, network, context, amp=amp),
    )


def _handlers(workflow: Workflow, options: TrainOptions, context: Context) -> list[Handler]:
    """Stop on signal on every rank; progress, checkpoints and TensorBoard on rank 0; then the config's own
    `handlers`. Their order does not matter: the trainer fires every event itself."""
    metrics = workflow.get("validate.metrics") or []
    handlers: list[Handler] = [StopOnSignal()]
    if context.is_main:
        handlers += [
            Progress(hidden=names_without(metrics, "do_print")),
            CheckpointSaver(
                options.model_dir,
                workflow.config.data,
                lambda trainer: train_state.capture(trainer, workflow.config.data),
                key_metric=key_metric_name(metrics),
            ),
            TensorBoard(
                options.model_dir,
                interval=options.summary_interval,
                hidden=names_without(metrics, "do_summary"),
            ),
        ]
    return handlers + list(workflow.get("train.handlers") or [])


def _summary(trainer: Trainer, workflow: Workflow, wall_time: float, first_iteration: int) -> dict[str, Any]:
    state, folder = trainer.state, trainer.options.model_dir
    metrics = workflow.get("validate.metrics") or []
    iterations = state.iteration - first_iteration
    summary = {
        "model_dir": str(folder),
        "key_metric": key_metric_name(metrics),
        "best_metric": state.best_metric,
        "best_epoch": state.best_epoch,
        "final_metrics": state.history[-1].get("metrics", {}) if state.history else {},
        "epochs": state.epoch,
        "iterations": state.iteration,
        "wall_time_s": round(wall_time, 3),
        "iterations_per_s": round(iterations / wall_time, 3) if wall_time > 0 else None,
        "files": {name: str(folder / name) for name in (BEST, FINAL, STATE, RESOLVED_CONFIG, SUMMARY)},
        "history": state.history,
    }
    if trainer.setup.context.is_main:
        write_text_atomic(folder / SUMMARY, _json(summary))
    return summary


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, default=str) + "\n"
