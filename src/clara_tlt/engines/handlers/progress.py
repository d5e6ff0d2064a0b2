"""Progress: a bar per epoch on a terminal (loss, it/s, ETA); one plain line per epoch otherwise (CI logs); the
validation metrics but those `hidden` (Clara's `do_print: false`)."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from clara_tlt.engines.trainer import Handler, Trainer


class Progress(Handler):
    def __init__(self, *, interactive: bool | None = None, hidden: frozenset[str] = frozenset()) -> None:
        self.interactive = sys.stderr.isatty() if interactive is None else interactive
        self.hidden = hidden
        self.bar: Any = None
        self.epoch_start = 0.0
        self.first_iteration = 0

    def epoch_started(self, trainer: Trainer) -> None:
        self.epoch_start = time.perf_counter()
        self.first_iteration = trainer.state.iteration
        if self.interactive:
            from tqdm import tqdm

            total = len(trainer.setup.train_data)
            self.bar = tqdm(
                total=total,
                initial=trainer.state.epoch_iteration,
                desc=f"epoch {trainer.state.epoch + 1}/{trainer.options.epochs}",
                leave=False,
                file=sys.stderr,
            )

    def iteration_completed(self, trainer: Trainer) -> None:
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{trainer.state.last_loss:.4f}", refresh=False)
            self.bar.update(1)

    def epoch_trained(self, trainer: Trainer) -> None:
        self._close_bar()
        elapsed = time.perf_counter() - self.epoch_start
        rate = (trainer.state.iteration - self.first_iteration) / elapsed if elapsed > 0 else 0.0
        line = (
            f"epoch {trainer.state.epoch}/{trainer.options.epochs}: loss {trainer.epoch_mean_loss:.4f}, "
            f"{rate:.2f} it/s, {elapsed:.1f} s"
        )
        click.echo(line, err=True)

    def validated(self, trainer: Trainer) -> None:
        state = trainer.state
        values = ", ".join(
            f"{name} {value:.4f}" for name, value in state.metrics.items() if name not in self.hidden
        )
        best = (
            f" (best {state.best_metric:.4f} at epoch {state.best_epoch})"
            if state.best_metric is not None
            else ""
        )
        click.echo(f"  validation: {values}{best}", err=True)

    def _close_bar(self, trainer: Trainer | None = None) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    completed = interrupted = failed = _close_bar
