"""TensorBoard events in the model folder: train loss and learning rate every `interval` iterations (Clara's
`train_summary_recording_interval`; 0: once per epoch), epoch loss, every validation
metric under its name (but those `hidden`: Clara's `do_summary: false`), and image/label/prediction slices of
the first validation case."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clara_tlt.engines.trainer import Handler, Trainer


class TensorBoard(Handler):
    def __init__(
        self,
        log_dir: Path,
        *,
        interval: int = 1,
        hidden: frozenset[str] = frozenset(),
    ) -> None:
        self.log_dir = log_dir
        self.interval = interval
        self.hidden = hidden
        self.writer: Any = None

    def started(self, trainer: Trainer) -> None:
        from torch.utils.tensorboard import SummaryWriter

        # TensorBoard hides earlier events at steps ≥ purge_step: those a killed run logged past the state this
        # run starts from (it logs them again); the state's own iteration was logged once and stays.
        self.writer = SummaryWriter(log_dir=str(self.log_dir), purge_step=trainer.state.iteration + 1)

    def iteration_completed(self, trainer: Trainer) -> None:
        if self.interval and trainer.state.iteration % self.interval == 0:
            self._training_summary(trainer, trainer.state.last_loss)

    def epoch_completed(self, trainer: Trainer) -> None:
        self.writer.add_scalar("epoch_loss", trainer.epoch_mean_loss, trainer.state.epoch)
        if not self.interval:
            self._training_summary(trainer, trainer.epoch_mean_loss)

    def _training_summary(self, trainer: Trainer, loss: float) -> None:
        step = trainer.state.iteration
        self.writer.add_scalar("train_loss", loss, step)
        self.writer.add_scalar("learning_rate", trainer.setup.optimizer.param_groups[0]["lr"], step)

    def validated(self, trainer: Trainer) -> None:
        epoch = trainer.state.epoch
        for name, value in trainer.state.metrics.items():
            if name not in self.hidden:
                self.writer.add_scalar(name, value, epoch)
        preview = trainer.validation.preview if trainer.validation else None
        for name, image in (preview or {}).items():
            self.writer.add_image(f"validation/{name}", image, epoch, dataformats="HW")
        self.writer.flush()

    def _close(self, trainer: Trainer) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    completed = interrupted = failed = _close
