"""Clara 4.x's `CheckpointSaver` and `CheckpointLoader`, with MONAI's arguments and our trust rules.

MONAI's own pair pickles through `torch.save(path)` and loads with `torch.load` as it is: here every file is
written atomically and checked (`save_checkpoint`), in the layout our 3.x trainer writes (`model.pt` at the best
key metric, `model_final.pt` at the end, each `{"model", "train_conf", "epoch", "metric"}`), and every file is
read as data (`weights_only=True`), its weights loaded strictly. A 4.x config's `"name": "CheckpointSaver"` builds
these (engines/clara4/sections.py: REPLACED).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ignite.engine import Engine, Events
from torch import nn

from clara_tlt.engines.checkpoint import (
    FINE_TUNE_FIX,
    load_checkpoint,
    load_state,
    model_payload,
    save_checkpoint,
    state_dict_of,
)
from clara_tlt.engines.distributed import is_main_rank
from clara_tlt.engines.handlers.checkpoint import BEST, FINAL
from clara_tlt.errors import ConfigError

log = logging.getLogger(__name__)
MODEL = "model"


class CheckpointSaver:
    """`save_key_metric`: `model.pt` whenever the engine's key metric improves; `save_final`: `model_final.pt`
    when the run completes. `save_dict` must hold `model` (the network) and may hold `train_conf`; the resume
    state (`train_state.pt`, every epoch) is written by the engine whatever the config says."""

    def __init__(
        self,
        save_dir: str,
        save_dict: dict[str, Any],
        name: str | None = None,
        file_prefix: str = "",
        save_final: bool = False,
        final_filename: str | None = None,
        save_key_metric: bool = False,
        key_metric_name: str | None = None,
        key_metric_n_saved: int = 1,
        key_metric_filename: str | None = None,
        epoch_level: bool = True,
        save_interval: int = 0,
        n_saved: int | None = None,
    ) -> None:
        network = save_dict.get(MODEL)
        if not isinstance(network, nn.Module):
            raise ConfigError('save_dict must name "model" (the network), e.g. ["model", "train_conf"]')
        self.save_dir = Path(save_dir)
        self.network = network
        self.train_conf = dict(save_dict.get("train_conf") or {})
        self.final = (final_filename or FINAL) if save_final else None
        self.best = (key_metric_filename or BEST) if save_key_metric else None

    def attach(self, engine: Engine) -> None:
        if self.best is not None:
            engine.add_event_handler(Events.EPOCH_COMPLETED, self._improved)
        if self.final is not None:
            engine.add_event_handler(Events.COMPLETED, self._completed)

    def _improved(self, engine: Engine) -> None:
        best = getattr(engine.state, "best_metric", None)
        if best is not None and getattr(engine.state, "best_metric_epoch", None) == engine.state.epoch:
            self.write(str(self.best), epoch=engine.state.epoch, metric=float(best))

    def _completed(self, engine: Engine) -> None:
        self.write(str(self.final), epoch=engine.state.epoch, metric=None)

    def write(self, name: str, *, epoch: int, metric: float | None) -> None:
        """Write `name` into the model folder atomically (the older file stays until the new one is whole); under
        torchrun rank 0 writes, whatever `rank` the config gave the handler."""
        if not is_main_rank():
            return
        payload = model_payload(self.network, self.train_conf, epoch=epoch, metric=metric)
        save_checkpoint(self.save_dir / name, payload)
        log.info(
            "Saved %s (epoch %d%s)", self.save_dir / name, epoch, "" if metric is None else f", {metric:.4f}"
        )


class CheckpointLoader:
    """Load `load_path` into the objects of `load_dict` when the engine starts (fine-tuning, or the weights an
    evaluator scores): `model` gets the network weights (strictly unless `strict` is false: then the tensors whose
    names and shapes match), other names their entry of the checkpoint. `skip` (set on resume): load nothing."""

    def __init__(
        self,
        load_path: str,
        load_dict: dict[str, Any],
        name: str | None = None,
        map_location: Any = None,
        strict: bool = True,
        strict_shape: bool = True,
    ) -> None:
        self.load_path = Path(load_path)
        if not self.load_path.is_file():  # said when the config is built: the dry run says it too
            raise ConfigError(
                f"load_path '{load_path}' is not a file; give the checkpoint to load (e.g. \"{{MMAR_CKPT}}\" or "
                '"{MMAR_CKPT_DIR}/model.pt"), or disable this CheckpointLoader'
            )
        self.load_dict = dict(load_dict)
        self.strict = strict and strict_shape
        self.skip = False

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self)

    def __call__(self, engine: Engine) -> None:
        if not self.skip:
            self.load()

    def load(self) -> None:
        checkpoint = load_checkpoint(self.load_path)
        for key, target in self.load_dict.items():
            if isinstance(target, nn.Module):
                self._network(target, state_dict_of(checkpoint) if key == MODEL else checkpoint.get(key))
            elif key in checkpoint and hasattr(target, "load_state_dict"):
                target.load_state_dict(checkpoint[key])
            else:
                raise ConfigError(
                    f"checkpoint '{self.load_path}' holds no '{key}' (it holds {', '.join(sorted(checkpoint))})"
                )
        log.info("Loaded %s from %s", ", ".join(self.load_dict), self.load_path)

    def _network(self, network: nn.Module, weights: Mapping[str, Any] | None) -> None:
        if not isinstance(weights, Mapping):
            raise ConfigError(f"checkpoint '{self.load_path}' holds no network weights")
        if self.strict:
            load_state(network, weights, source=str(self.load_path), fix=FINE_TUNE_FIX)
            return
        own = network.state_dict()
        matching = {k: v for k, v in weights.items() if k in own and tuple(own[k].shape) == tuple(v.shape)}
        network.load_state_dict(matching, strict=False)
