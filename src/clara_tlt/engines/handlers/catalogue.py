"""The handlers a config names in its `handlers` slot (Clara 3.1 / MONAI names), registered for the factory
(`handler` kind) and built on the trainer's `Handler` events. Keras callbacks cannot run here: naming one says
what does their job instead.

    "handlers": [{"name": "StatsHandler", "args": {"iteration_log": false}}]
"""

from __future__ import annotations

import logging

from clara_tlt.engines.trainer import Handler, Trainer
from clara_tlt.errors import ConfigError
from clara_tlt.factory.registry import register, register_unavailable

register_unavailable(
    "handler",
    ("ModelCheckpoint", "EarlyStopping", "CSVLogger", "LearningRateScheduler", "Callback", "TensorBoard"),
    instead=(
        "it is a Keras callback. The trainer saves model.pt (best) and model_final.pt itself, writes TensorBoard "
        "logs to the model folder, and steps the train section's lr_policy; use StatsHandler for loss logging"
    ),
)

register_unavailable(
    "handler",
    ("AdjustLayerLRs",),
    instead=(
        "Clara shipped it as an example of TensorFlow LR placeholders; set per-layer rates with your own handler "
        '(a clara_tlt.engines.trainer.Handler given by "path") or one optimizer param group per layer'
    ),
)


@register("handler", "StatsHandler", built_on="logging")
class StatsHandler(Handler):
    """Log the loss of every `log_every`-th iteration and each epoch's mean loss and validation metrics."""

    def __init__(
        self,
        iteration_log: bool = True,
        epoch_log: bool = True,
        log_every: int = 1,
        tag_name: str = "Loss",
        name: str | None = None,
    ) -> None:
        self.iteration_log = iteration_log
        self.epoch_log = epoch_log
        self.log_every = max(1, log_every)
        self.tag_name = tag_name
        self.logger = logging.getLogger(name or "clara_tlt.train")

    def iteration_completed(self, trainer: Trainer) -> None:
        state = trainer.state
        if self.iteration_log and state.iteration % self.log_every == 0:
            self.logger.info(
                "epoch %d iteration %d: %s %.4f",
                state.epoch + 1,
                state.iteration,
                self.tag_name,
                state.last_loss,
            )

    def epoch_completed(self, trainer: Trainer) -> None:
        if not self.epoch_log:
            return
        metrics = ", ".join(f"{k} {v:.4f}" for k, v in trainer.state.metrics.items())
        self.logger.info(
            "epoch %d: mean %s %.4f%s",
            trainer.state.epoch,
            self.tag_name,
            trainer.epoch_mean_loss,
            f", {metrics}" if metrics else "",
        )


@register("handler", "EarlyStop", built_on="clara_tlt")
class EarlyStop(Handler):
    """End training after the epoch whose validation is the `val_times_threshold`-th in a row without a new best
    key metric; the run completes normally (final checkpoint written), with fewer epochs than configured. The
    count of misses is this handler's own; the trainer's options stay as configured."""

    def __init__(self, val_times_threshold: int) -> None:
        if val_times_threshold < 1:
            raise ConfigError(f"val_times_threshold must be at least 1, got {val_times_threshold}")
        self.threshold = val_times_threshold
        self.misses = 0

    def validated(self, trainer: Trainer) -> None:
        self.misses = 0 if trainer.state.improved else self.misses + 1
        if self.misses >= self.threshold:
            self.stop(trainer)

    def stop(self, trainer: Trainer) -> None:
        logging.getLogger("clara_tlt.train").info(
            "early stop: no better key metric in %d validations; ending after epoch %d",
            self.misses,
            trainer.state.epoch,
        )
        trainer.end_after_epoch()
