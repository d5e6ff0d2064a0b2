"""The Clara 3.x training loop: a short `fit()` that trains, validates, steps the lr policy, and fires events to
handlers (checkpoints, TensorBoard, progress, stop on signal, the config's own). Everything it varies by comes
from `TrainOptions` (frozen). The order of the events is in `Trainer`'s docstring.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from clara_tlt.engines import profile
from clara_tlt.engines.checkpoint import unwrap
from clara_tlt.engines.distributed import Context, broadcast_flag
from clara_tlt.engines.evaluation import Batch, Evaluation, to_device
from clara_tlt.engines.options import TrainOptions
from clara_tlt.errors import ClaraError, Interrupted

# `--profile`: the rows of a training's table, listed even when they take no time
TRAIN_STAGES = (profile.DATA_WAIT, profile.FORWARD, profile.STEP, profile.VALIDATION, profile.CHECKPOINT)


class Handler:
    """Base of every handler: override the events you need; each gets the trainer (the order: `Trainer`)."""

    def started(self, trainer: Trainer) -> None: ...

    def epoch_started(self, trainer: Trainer) -> None: ...

    def iteration_completed(self, trainer: Trainer) -> None: ...

    def epoch_trained(self, trainer: Trainer) -> None: ...

    def validated(self, trainer: Trainer) -> None: ...

    def epoch_completed(self, trainer: Trainer) -> None: ...

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
    """The built objects a training run uses. `network` is DDP-wrapped under torchrun; `validate` scores it on
    the validation data (None: no validation, `model.pt` holds the latest weights)."""

    network: nn.Module
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    optimizer: torch.optim.Optimizer
    lr_policy: Any
    train_data: Any
    scaler: torch.amp.GradScaler
    context: Context
    amp: bool
    validate: Callable[[], Evaluation] | None = None


@dataclass
class Trainer:
    """`fit()` trains `setup.network` for `options.epochs` epochs from `state` (fresh or resumed).

    The trainer fires every event itself, each to every handler, in this order:

    - `started`
    - per epoch: `epoch_started`; `iteration_completed` after each batch (the lr policy has stepped);
      `epoch_trained` (the epoch's batches are done, its mean loss is known; not yet validated);
      `validated` on the epochs that validate, every `validate_every`-th and the last (`state.metrics` holds
      the results; a policy that follows the key metric has stepped); `epoch_completed` (the epoch is over,
      its validation included: the state to resume from is saved here)
    - `completed`, or `interrupted` (SIGINT/SIGTERM: the state is saved, then `Interrupted` is raised), or
      `failed`.

    No handler reads what another writes during the same event, so their order in the list does not matter.
    `validation` is the latest validation's result (with its preview for TensorBoard); `ending` is set by
    `end_after_epoch()` (EarlyStop) and lives for this run only: the options stay as configured.
    """

    setup: TrainSetup
    options: TrainOptions
    handlers: Sequence[Handler]
    state: TrainState = field(default_factory=TrainState)
    validation: Evaluation | None = field(default=None, init=False)
    ending: bool = field(default=False, init=False)

    def fire(self, event: str) -> None:
        with profile.current().stage(profile.HANDLERS):
            for handler in self.handlers:
                getattr(handler, event)(self)

    def end_after_epoch(self) -> None:
        """End training once the current epoch is over; the run completes normally (`completed` fires)."""
        self.ending = True

    def fit(self) -> TrainState:
        """Train to `options.epochs`; raises `Interrupted` (state saved) on a stop request."""
        profile.current().expect(*TRAIN_STAGES)
        self.fire("started")
        try:
            while self.state.epoch < self.options.epochs and not self.ending:
                self._run_epoch()
        except Interrupted:
            raise
        except BaseException:
            self.fire("failed")
            raise
        self.fire("completed")
        return self.state

    def _run_epoch(self) -> None:
        """One epoch: its batches, then its validation when due; a stop request ends it after any batch."""
        self.fire("epoch_started")
        timer = profile.current()
        with timer.stage(profile.DATA_WAIT):  # a loader's workers start here
            batches = self._batches()
        for batch in timer.iterate(batches, profile.DATA_WAIT):
            self._iterate(batch)
            self._stop_if_requested()
        self._finish_epoch()
        self.fire("epoch_trained")
        self._validate()
        self.fire("epoch_completed")
        self._stop_if_requested()  # a stop asked for during validation: the epoch's state is saved

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
        if self.setup.lr_policy is not None and not self._lr_follows_metric:
            self.setup.lr_policy.step()  # Clara's policies count global steps
        self.fire("iteration_completed")

    def step(self, batch: Batch) -> float:
        """One optimisation step on a batch (`image` `(N, C, *spatial)`, `label`); returns the loss."""
        setup, timer = self.setup, profile.current()
        cuda = setup.context.device.type == "cuda"
        with timer.stage(profile.FORWARD, cuda=cuda):
            sample = to_device(batch, setup.context.device)
            setup.optimizer.zero_grad(set_to_none=True)
            with torch.autocast(setup.context.device.type, enabled=setup.amp):
                output = setup.network(sample["image"])
                loss = setup.loss(output, sample["label"])
                extra = getattr(unwrap(setup.network), "auxiliary_loss", None)  # SegResnet's VAE term
                if extra is not None:
                    loss = loss + extra
        with timer.stage(profile.STEP, cuda=cuda):
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

    def _validate(self) -> None:
        """Validate when due (every `validate_every`-th epoch and the last), record the metrics and the best,
        step a policy that follows the key metric (`steps_on_metric`, e.g. ReduceOnPlateau), fire `validated`."""
        epoch, options = self.state.epoch, self.options
        if self.setup.validate is None or (epoch % options.validate_every and epoch != options.epochs):
            return
        with profile.current().stage(profile.VALIDATION):
            result = self.validation = self.setup.validate()
        state = self.state
        state.metrics = dict(result.metrics)
        state.record_metric(result.key_value)
        state.history[-1]["metrics"] = dict(result.metrics)
        if self._lr_follows_metric and result.key_metric in state.metrics:
            self.setup.lr_policy.step(state.metrics[result.key_metric])
        self.fire("validated")

    @property
    def _lr_follows_metric(self) -> bool:
        return bool(getattr(self.setup.lr_policy, "steps_on_metric", False))

    @property
    def epoch_mean_loss(self) -> float:
        """The mean loss of the last completed epoch."""
        return float(self.state.history[-1]["loss"]) if self.state.history else math.nan
