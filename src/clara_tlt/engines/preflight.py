"""The checks a training makes before its first step: the real run and `--dry-run` call this one function.

with preflight(config, RunChecks(model_dir="models"), hold_lock=True) as checked:  # the real run (rank 0)
    checked.options, checked.saved  # resume from `saved`, or start fresh
with preflight(config) as checked:  # --dry-run: writes nothing
    checked.describe()
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clara_tlt.config.automl import search_space
from clara_tlt.config.federated import check_trains, federated_note
from clara_tlt.config.loader import ResolvedConfig
from clara_tlt.engines import distributed, train_state
from clara_tlt.engines.checkpoint import load_checkpoint
from clara_tlt.engines.handlers.checkpoint import BEST, FINAL, STATE
from clara_tlt.engines.model_folder import ModelFolder, model_folder
from clara_tlt.engines.options import TrainOptions
from clara_tlt.errors import UsageError, as_written
from clara_tlt.io.outputs import check_output_folder

log = logging.getLogger(__name__)
SUMMARY = "train_summary.json"
EARLIER_RUN = (STATE, BEST, FINAL, SUMMARY)  # what --force removes before a fresh start


@dataclass(frozen=True)
class RunChecks:
    """What the caller says of the model folder, for the preflight of `train` (3.x and 4.x): where it is
    (`model_dir`, else MMAR_CKPT_DIR or the MMAR's models/), whether to resume the earlier run there, whether
    `force` may replace it, and what follows torchrun's flags in the note that `multi_gpu` prints."""

    model_dir: str | Path | None = None
    resume: bool = True
    force: bool = False
    command_hint: str = "-m clara_tlt train -m MMAR -c config/config_train.json"


DEFAULT_CHECKS = RunChecks()  # the MMAR's model folder; resume what is there, replace nothing


@dataclass(frozen=True)
class Preflight:
    """What the checks found: the options, the folder, and the state to resume from (None: a fresh start)."""

    options: TrainOptions
    folder: ModelFolder
    saved: dict[str, Any] | None = None
    previous: tuple[Path, ...] = ()  # the earlier run's files a fresh start removes (--force)
    automl: tuple[str, ...] = ()  # the config's AutoML annotations: accepted, listed, not searched here

    def describe(self) -> dict[str, Any]:
        """The dry run's report of the model folder: where, and whether the run resumes or starts fresh."""
        if self.saved is not None:
            done = self.saved["trainer"]
            start = f"resumes from {STATE} ({done['epoch']} of {self.options.epochs} epoch(s) done)"
        elif self.previous:
            start = "starts over, removing the earlier run's " + ", ".join(p.name for p in self.previous)
        else:
            start = "starts fresh"
        return {"model_dir": str(self.folder.path), "start": start, "automl": self.automl}


@contextlib.contextmanager
def preflight(
    config: ResolvedConfig, checks: RunChecks = DEFAULT_CHECKS, *, hold_lock: bool = False
) -> Iterator[Preflight]:
    """Check, in the real run's order: the globals' types and ranges (exit 3 naming the key), a federated client
    config with nothing to train (exit 3; its orchestration sections are named in the log), `multi_gpu` outside
    torchrun (one process, and a note naming the torchrun command), the model folder writable (exit 2 naming -r
    or MMAR_CKPT_DIR), no other training in it (exit 2 naming it), and the earlier run there: a state to resume
    under the same config (else exit 3 with the differing keys) or files that only `--force` replaces (exit 2).

    `hold_lock` (the real run): hold the folder's lock while the block runs. Without it nothing is written.
    """
    folder = model_folder(config, checks.model_dir)
    options = TrainOptions.from_config(
        config, model_dir=folder.path, resume=checks.resume, force=checks.force
    )
    check_trains(config.data, config.file)
    launch = distributed.launch_note(
        multi_gpu=bool(config.get("multi_gpu", False)), command_hint=checks.command_hint
    )
    for note in (launch, federated_note(config.data, config.file)):
        if note is not None:
            log.info(note)
    check_output_folder(folder.path, flag=folder.source)
    with folder.lock(hold=hold_lock):
        saved, previous = _earlier_run(options, config)
        automl = tuple(as_written(config.file, path) for path in search_space(config.data))
        yield Preflight(options=options, folder=folder, saved=saved, previous=previous, automl=automl)


def _earlier_run(
    options: TrainOptions, config: ResolvedConfig
) -> tuple[dict[str, Any] | None, tuple[Path, ...]]:
    """(the state to resume from, None) or (None, the earlier run's files that a fresh start removes)."""
    folder = options.model_dir
    if options.resume and (folder / STATE).is_file():
        saved = load_checkpoint(folder / STATE)
        train_state.check_same_config(saved.get("train_conf", {}), config.data, file=config.file)
        return saved, ()
    previous = tuple(folder / name for name in EARLIER_RUN if (folder / name).is_file())
    if previous and not options.force:
        raise UsageError(
            f"{folder} holds an earlier run ({', '.join(p.name for p in previous)}); "
            + (
                "add --force to start over"
                if not options.resume
                else "it has no train_state.pt to resume from; add --force to start over"
            )
        )
    return None, previous
