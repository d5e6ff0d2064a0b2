"""The Clara 3.x training loop: a short `fit()` that fires events to handlers (checkpoints, validation, lr
steps, TensorBoard, progress, stop on signal). Everything it varies by comes from `TrainOptions`.

Events, in order: `started`, then per epoch `epoch_started`, `iteration_completed` (each batch),
`epoch_completed` (validation handlers fire `validated` inside it); finally `completed`, or `interrupted`
(SIGINT/SIGTERM: the state is saved, then `Interrupted` is raised) or `failed`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from clara_tlt.engines.checkpoint import unwrap
from clara_tlt.engines.distributed import Context, broadcast_flag
from clara_tlt.engines.evaluation import Batch, to_device
from clara_tlt.engines.options import TrainOptions
from clara_tlt.errors import ClaraError, Interrupted


class Handler:
    """Base of every handler: override the events you need; each gets the trainer."""

    def started(self, trainer: Trainer) -> None: ...

    def epoch_started(self, trainer: Trainer) -> None: ...

    def iteration_completed(self, trainer: Trainer) -> None: ...

    def epoch_completed(self, trainer: Trainer) -> None: ...

    def validated(self, trainer: Trainer) -> None: ...

    def completed(self, trainer: Trainer) -> None: ...

    def interrupted(self, trainer: Trainer) -> None: ...

    def failed(self, trainer: Trainer) -> None: ...


@dataclass
class TrainState:
    """Counters and results; plain data, so it goes into `train_state.pt` as it is.

    `epoch` counts completed epochs; `epoch_iteration` and `epoch_loss` belong to the epoch in progress (not 0
    only in a state saved by an interrupt: a resumed run skips that many batches of the epoch).
    """

    epoch: int = 0
    iteration: int = 0
    epoch_iteration: int = 0
    epoch_loss: float = 0.0
    last_loss: float = math.nan
    metrics: dict[str, float] = field(default_factory=dict)
    best_metric: float | None = None
    best_epoch: int | None = None
    improved: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)
    stop_requested: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainState:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def record_metric(self, value: float | None) -> None:
        """Note the key metric of this epoch's validation; `improved` says whether it is the best so far."""
        self.improved = (
            value is not None
            and not math.isnan(value)
            and (self.best_metric is None or value > self.best_metric)
        )
        if self.improved:
            self.best_metric, self.best_epoch = value, self.epoch


@dataclass
class TrainSetup:
    """The built objects a training run uses. `network` is DDP-wrapped under torchrun."""

    network: nn.Module
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    optimizer: torch.optim.Optimizer
    lr_policy: Any
    train_data: Any
    scaler: torch.amp.GradScaler
    context: Context
    amp: bool


@dataclass
class Trainer:
    """`fit()` trains `setup.network` for `options.epochs` epochs from `state` (fresh or resumed)."""

    setup: TrainSetup
    options: TrainOptions
    handlers: Sequence[Handler]
    state: TrainState = field(default_factory=TrainState)

    def fire(self, event: str) -> None:
        for handler in self.handlers:
            getattr(handler, event)(self)

    def fit(self) -> TrainState:
        """Train to `options.epochs`; raises `Interrupted` (state saved) on a stop request."""
        self.fire("started")
        try:
            while self.state.epoch < self.options.epochs:
                self.fire("epoch_started")
                for batch in self._batches():
                    self._iterate(batch)
                    self._stop_if_requested()
                self._finish_epoch()
                self.fire("epoch_completed")
                self._stop_if_requested()  # a stop asked for during validation: the epoch's state is saved
        except Interrupted:
            raise
        except BaseException:
            self.fire("failed")
            raise
        self.fire("completed")
        return self.state

    def _stop_if_requested(self) -> None:
        """On a stop request seen by any rank: fire `interrupted` (the state is saved) and raise `Interrupted`."""
        if broadcast_flag(self.state.stop_requested, self.setup.context):
            self.fire("interrupted")
            raise Interrupted(
                f"training stopped after {self.state.epoch} epoch(s) and {self.state.epoch_iteration} iteration(s) "
                f"of the next; the state is saved in {self.options.model_dir}: run the same command again to resume"
            )

    def _batches(self) -> Iterator[Batch]:
        """This epoch's batches; a resumed epoch skips those it already trained on (the same batches when the
        config sets `determinism`, since the pipeline is reseeded per epoch)."""
        data = self.setup.train_data
        if self.options.seeds is not None:
            data.set_random_state(self.options.seeds.torch + self.state.epoch)
        data.set_epoch(self.state.epoch)
        self.setup.network.train()
        return itertools.islice(iter(data), self.state.epoch_iteration, None)

    def _iterate(self, batch: Batch) -> None:
        loss = self.step(batch)
        if not math.isfinite(loss):
            raise ClaraError(
                f"the loss became {loss} at epoch {self.state.epoch + 1}, iteration {self.state.epoch_iteration + 1}; "
                "the last good state stays in the model folder. Lower learning_rate, check the labels, or turn "
                "use_amp off"
            )
        state = self.state
        state.last_loss = loss
        state.iteration += 1
        state.epoch_iteration += 1
        state.epoch_loss += loss
        self.fire("iteration_completed")

    def step(self, batch: Batch) -> float:
        """One optimisation step on a batch (`image` `(N, C, *spatial)`, `label`); returns the loss."""
        setup = self.setup
        sample = to_device(batch, setup.context.device)
        setup.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(setup.context.device.type, enabled=setup.amp):
            output = setup.network(sample["image"])
            loss = setup.loss(output, sample["label"])
            extra = getattr(unwrap(setup.network), "auxiliary_loss", None)  # SegResnet's VAE term
            if extra is not None:
                loss = loss + extra
        setup.scaler.scale(loss).backward()
        setup.scaler.step(setup.optimizer)
        setup.scaler.update()
        return float(loss.detach())

    def _finish_epoch(self) -> None:
        state = self.state
        state.epoch += 1
        mean = state.epoch_loss / max(1, state.epoch_iteration)
        state.history.append({"epoch": state.epoch, "loss": mean, "iterations": state.epoch_iteration})
        state.epoch_iteration, state.epoch_loss, state.improved = 0, 0.0, False
        state.metrics = {}

    @property
    def epoch_mean_loss(self) -> float:
        """The mean loss of the last completed epoch."""
        return float(self.state.history[-1]["loss"]) if self.state.history else math.nan
