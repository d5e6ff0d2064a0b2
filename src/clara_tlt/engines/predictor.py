"""`Predictor`: one object that infer, evaluate and deploy use to run a model over cases.

A case is a datalist entry (`{"image": path, "label": path, …}`). `predict(entry)` runs it through the
pre-transforms (and the label transforms when scoring), the inferer, the post-transforms and the writers, and
updates the metrics. `predict_all(entries)` does the same for many cases with reading and pre-processing of
case n+1 and the writing of case n−1 overlapping the inference of case n (queues of two cases, so memory
stays bounded); a case that fails is reported with its file and the others go on.

>>> predictor = Predictor(network=net, inferer=SimpleInferer(), pre_transforms=[load])  # doctest: +SKIP
>>> outcome = predictor.predict_all([{"image": "ct_1.nii.gz"}, {"image": "ct_2.nii.gz"}])  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from monai.data import MetaTensor

from clara_tlt.config.keypath import child
from clara_tlt.config.loader import ResolvedConfig
from clara_tlt.engines.distributed import Context, amp_enabled, setup, teardown
from clara_tlt.engines.evaluation import plain
from clara_tlt.engines.model_loaders import ModelLoader
from clara_tlt.errors import ClaraError, UsageError, batch_failure
from clara_tlt.inferers import SimpleInferer
from clara_tlt.io.outputs import OUTPUT_NAME, case_name, check_output_folder, name_entries
from clara_tlt.metrics.base import Metric
from clara_tlt.transforms.base import CHANNEL_DIM
from clara_tlt.transforms.layout import ArgmaxAcrossChannels

log = logging.getLogger(__name__)

Sample = dict[str, Any]
Step = Callable[[Sample], Sample]
Network = Callable[[torch.Tensor], torch.Tensor]
QUEUE_CASES = 2  # cases waiting between reading and inference, and between inference and writing
_END = object()


@dataclass
class CaseFailure:
    """A case that failed: its image file, the step (`read`, `infer`, `write`) and what went wrong."""

    file: str
    step: str
    error: str


@dataclass
class Outcome:
    """What `predict_all` did: the files finished (in the order the metrics saw them) and the failures."""

    cases: list[str] = field(default_factory=list)
    failures: list[CaseFailure] = field(default_factory=list)
    seconds: float = 0.0


def case_file(entry: Sample) -> str:
    """The file that names a case in reports: its `image` path (the first of a list of channel files)."""
    image = entry.get("image")
    if isinstance(image, (list, tuple)) and image:
        image = image[0]
    return str(image) if image is not None else repr(entry)


def describe(error: BaseException) -> str:
    """Our errors say what failed in their message; others get their type in front (`ValueError: …`)."""
    return str(error) if isinstance(error, ClaraError) else f"{type(error).__name__}: {error}"


@dataclass
class Predictor:
    """A network and everything around it for cases of one channel-first image each.

    `network` maps `(N, C_in, *spatial)` to `(N, C_out, *spatial)`; `inferer(inputs, network)` calls it
    (whole volume or scanning window). The inferer's output for a case, `(C_out, *spatial)` (or `(1, *spatial)`
    labels), is stored under `"model"` with the image's affine and metadata. When the first post-transform is
    `ArgmaxAcrossChannels` of `model` and the inferer has a `labels` switch, the inferer takes the argmax itself
    while it blends (its label-streaming mode) and that post-transform is left out.
    """

    network: Network
    inferer: Callable[[torch.Tensor, Network], torch.Tensor]
    pre_transforms: Sequence[Step] = ()
    label_transforms: Sequence[Step] = ()
    post_transforms: Sequence[Step] = ()
    writers: Sequence[Step] = ()
    aux_ops: Sequence[Step] = ()
    metrics: Sequence[Metric] = ()
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    amp: bool = False
    progress: bool | None = None

    def __post_init__(self) -> None:
        self.post_transforms = list(self.post_transforms)
        first = self.post_transforms[0] if self.post_transforms else None
        if (
            isinstance(first, ArgmaxAcrossChannels)
            and tuple(first.fields) == ("model",)
            and hasattr(self.inferer, "labels")
        ):
            self.inferer.labels = True
            self.post_transforms.pop(0)
            log.info(
                "the first post-transform takes the argmax of 'model': the inferer streams labels instead"
            )
        for metric in self.metrics:
            metric.reset()

    def prepare(self, entry: Sample) -> Sample:
        """Read and pre-process a case (and its labels, when there are metrics); `OUTPUT_NAME` names its outputs
        (the entry's, else `case_name` of its image), set after the transforms so that none can drop it."""
        sample = {key: value for key, value in entry.items() if key != OUTPUT_NAME}
        for step in (*self.pre_transforms, *self.label_transforms):
            sample = step(sample)
        return {**sample, OUTPUT_NAME: entry.get(OUTPUT_NAME) or case_name(case_file(entry))}

    @torch.no_grad()
    def infer(self, sample: Sample) -> Sample:
        """Run the inferer on `sample["image"]` `(C_in, *spatial)`; the output goes to `"model"`."""
        image = sample["image"]
        inputs = plain(image).unsqueeze(0).to(self.device, non_blocking=True)
        if not inputs.is_floating_point():
            inputs = inputs.float()
        with torch.autocast(self.device.type, enabled=self.amp):
            output = plain(self.inferer(inputs, self.network))[0]
        output = output.float() if output.is_floating_point() else output
        meta = copy.deepcopy(getattr(image, "meta", {}))  # the affine among them
        meta[CHANNEL_DIM] = 0
        return {**sample, "model": MetaTensor(output.cpu(), meta=meta)}

    def finish(self, sample: Sample) -> Sample:
        """Post-process, write, and score a case whose `"model"` is set."""
        for step in (*self.post_transforms, *self.writers):
            sample = step(sample)
        if self.metrics:
            self.score(sample)
        return sample

    def score(self, sample: Sample) -> None:
        """Run the aux ops and update every metric with one case, or (on an error) none: each metric keeps
        one row per scored case, in the same order, for the per-case reports."""
        batch = {k: v.unsqueeze(0) if isinstance(v, torch.Tensor) else v for k, v in sample.items()}
        for op in self.aux_ops:
            batch = op(batch)
        kept = [_row_counts(metric) for metric in self.metrics]
        try:
            for metric in self.metrics:
                metric.update(batch)
        except Exception:
            for metric, counts in zip(self.metrics, kept, strict=True):
                for name, rows in getattr(metric, "buffers", {}).items():
                    del rows[counts.get(name, 0) :]
            raise

    def predict(self, entry: Sample) -> Sample:
        """One case from its datalist entry to its written outputs; returns the finished sample."""
        return self.finish(self.infer(self.prepare(entry)))

    def predict_all(self, entries: Iterable[Sample]) -> Outcome:
        """Every case, reading, inferring and writing on three threads; failures are collected, not raised.

        With writers, two cases that would write the same output name are told apart or refused
        (`clara_tlt.io.outputs.output_names`, NoInputError) before any case is read.
        """
        entries = name_entries(list(entries), case_file) if self.writers else list(entries)
        outcome = Outcome()
        started = time.perf_counter()
        to_infer: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_CASES)
        to_write: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_CASES)
        bar = _progress_bar(self.progress, total=len(entries))

        def fail(entry: Sample, step: str, error: Exception) -> None:
            failure = CaseFailure(case_file(entry), step, describe(error))
            log.warning("%s: %s failed: %s", failure.file, step, failure.error)
            outcome.failures.append(failure)
            bar.update(1)

        def read() -> None:
            for entry in entries:
                try:
                    to_infer.put((entry, self.prepare(entry)))
                except Exception as error:
                    fail(entry, "read", error)
            to_infer.put(_END)

        def write() -> None:
            while (item := to_write.get()) is not _END:
                entry, sample = item
                try:
                    self.finish(sample)
                    outcome.cases.append(case_file(entry))
                    bar.update(1)
                except Exception as error:
                    fail(entry, "write", error)

        threads = [threading.Thread(target=read, daemon=True), threading.Thread(target=write, daemon=True)]
        for thread in threads:
            thread.start()
        try:
            while (item := to_infer.get()) is not _END:
                entry, sample = item
                try:
                    to_write.put((entry, self.infer(sample)))
                except Exception as error:
                    fail(entry, "infer", error)
        finally:
            to_write.put(_END)
            threads[1].join()
            bar.close()
        order = {case_file(e): i for i, e in enumerate(entries)}
        outcome.failures.sort(key=lambda f: order.get(f.file, len(order)))
        outcome.seconds = time.perf_counter() - started
        return outcome


def _row_counts(metric: Metric) -> dict[str, int]:
    """How many rows each per-case buffer of a `ClaraMetric` holds (none for other metrics)."""
    return {name: len(rows) for name, rows in getattr(metric, "buffers", {}).items()}


class _NoBar:
    def update(self, n: int) -> None:
        """Nothing to show off a terminal: failures and the summary are logged."""

    def close(self) -> None:
        """Nothing to close."""


def _progress_bar(enabled: bool | None, *, total: int) -> Any:
    """A tqdm bar over cases on a terminal (or when asked), else nothing."""
    if not (sys.stderr.isatty() if enabled is None else enabled):
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc="cases", unit="case", file=sys.stderr, leave=False)


def run_config(config: ResolvedConfig, *, score: bool) -> dict[str, Any]:
    """`infer` (`score=False`) or `evaluate` (`score=True`) of a resolved config, on this rank's cases.

    Builds the workflow, loads the model, shards the datalist under torchrun, runs `predict_all`, and (rank 0)
    writes the reports; returns the summary, failed cases listed under `failed` (`raise_for_failures` turns
    them into exit 5, or 1 when every case failed, once the caller has printed it).
    """
    from clara_tlt.data.datalist import shard_entries
    from clara_tlt.engines.checkpoint import model_spec_of
    from clara_tlt.engines.reports import build_report, write_reports
    from clara_tlt.engines.workflow import build_workflow
    from clara_tlt.metrics.base import sync_metrics

    workflow = build_workflow(config, default_data_list_key="validation")
    section = "" if "pre_transforms" in config.data else "validate"
    output_dir, writers, entries = planned_outputs(config, workflow)
    context = setup(multi_gpu=False, command_hint="-m clara_tlt evaluate -m MMAR -c CONFIG")
    try:
        search_dirs = [config.mmar_root / "custom", config.mmar_root / "lib"] if config.mmar_root else []
        loaded = _model_loader(config, workflow.get(child(section, "model_loader"))).load(
            device=context.device, model_spec=model_spec_of(config.data), search_dirs=search_dirs
        )
        log.info("model %s (%s)", loaded.path, loaded.model_format)
        amp = amp_enabled(bool(config.get("use_amp", False)), context.device)
        predictor = _predictor(workflow, section, network=loaded.network, writers=writers, score=score)
        predictor.device, predictor.amp = context.device, amp
        metrics = list(predictor.metrics)
        outcome = predictor.predict_all(shard_entries(entries, context.rank, context.world_size, pad=False))
        sync_metrics(metrics)
        cases, failures = _gather(outcome, context)
        report = build_report(metrics, cases, failures)
        files = (
            write_reports(metrics, cases, report, output_dir=output_dir)
            if (score and context.is_main)
            else {}
        )
    finally:
        teardown(context)
    summary = {
        "model": str(loaded.path),
        "model_format": loaded.model_format,
        "output_path": str(output_dir),
        "cases": len(cases),
        "seconds": round(outcome.seconds, 3),
        **({"metrics": report["metrics"], "summary": report["summary"], "files": files} if score else {}),
        "failed": report["failed"],
    }
    return summary


def raise_for_failures(summary: dict[str, Any]) -> None:
    """Once the summary of `run_config` is printed: PartialFailure (exit 5) when some cases failed,
    NothingDone (exit 1) when all did, each failed case named; nothing when none failed."""
    failed = summary["failed"]
    lines = [f"{f['file']}: {f['step']}: {f['error']}" for f in failed]
    error = batch_failure(summary["cases"] + len(failed), lines, items="case(s)")
    if error is not None:
        raise error


def planned_outputs(config: ResolvedConfig, workflow: Any) -> tuple[Path, list[Any], list[Sample]]:
    """Every output check infer/evaluate make before any work (their dry runs too): the output folder and each
    writer's (exit 2), the output name of each case over the whole datalist, before sharding (clashes: exit 4).

    Returns the output folder, the writers and the datalist entries with their `OUTPUT_NAME`.
    """
    from clara_tlt.engines.workflow import eval_output_dir

    output_dir = eval_output_dir(config)
    if output_dir is None:
        raise UsageError("no output folder: give --output_path or set MMAR_EVAL_OUTPUT_PATH")
    check_output_folder(output_dir, flag=output_flag(config))
    section = "" if "pre_transforms" in config.data else "validate"
    writers = _as_list(workflow.get(child(section, "writers")) or workflow.get(child(section, "writer")))
    _check_writer_folders(writers, output_dir, config)
    entries = workflow.datalists[-1].entries
    return output_dir, writers, name_entries(entries, case_file) if writers else list(entries)


def output_flag(config: ResolvedConfig) -> str:
    """What names infer/evaluate's output folder for the user: `--output_path` (TLT dialect) or the variable."""
    return "MMAR_EVAL_OUTPUT_PATH" if config.mmar_root is not None else "--output_path"


def _predictor(
    workflow: Any, section: str, *, network: Network, writers: list[Any], score: bool
) -> Predictor:
    """The Predictor of a workflow's section (`validate`, or the top level of a validation config)."""

    def built(slot: str) -> Any:
        return workflow.get(child(section, slot))

    return Predictor(
        network=network,
        inferer=built("inferer") or SimpleInferer(),
        pre_transforms=built("pre_transforms") or [],
        label_transforms=(built("label_transforms") or []) if score else [],
        post_transforms=built("post_transforms") or [],
        writers=writers,
        aux_ops=(built("aux_ops") or []) if score else [],
        metrics=(built("val_metrics") or built("metrics") or []) if score else [],
    )


def _check_writer_folders(writers: Sequence[Step], output_dir: Path, config: ResolvedConfig) -> None:
    """The folder of each writer whose `write_path` the config sets elsewhere than the output folder."""
    for writer in writers:
        path = getattr(writer, "write_path", None)
        if path is not None:
            folder = Path(path).parent if Path(path).suffix.lower() == ".csv" else Path(path)
            if folder.absolute() != output_dir.absolute():
                check_output_folder(folder, flag=f"{config.file}: the writer's write_path")


def _as_list(built: Any) -> list[Any]:
    """A slot's built object(s) as a list (`writers` is a list, `writer` one object)."""
    return [] if built is None else built if isinstance(built, list) else [built]


def _model_loader(config: ResolvedConfig, configured: ModelLoader | None) -> ModelLoader:
    """`--model_save_path`/`--model_format` first, then the config's `model_loader`, then MMAR_CKPT_DIR/model.pt."""
    given = config.variables.get("MODEL_FILE_PATH")
    if given:
        return ModelLoader(str(given), model_format=config.variables.get("MODEL_FORMAT"))
    if configured is not None:
        return configured
    folder = config.variables.get("MMAR_CKPT_DIR") or (config.mmar_root and config.mmar_root / "models")
    if not folder:
        raise UsageError("no model: give --model_save_path, a model_loader in the config, or MMAR_CKPT_DIR")
    return ModelLoader(str(Path(folder) / "model.pt"))


def _gather(outcome: Outcome, context: Context) -> tuple[list[str], list[CaseFailure]]:
    """Every rank's finished files (in the rank order `sync_metrics` merges the metric rows) and failures."""
    if not context.distributed:
        return outcome.cases, outcome.failures
    import torch.distributed as dist

    gathered: list[Any] = [None] * context.world_size
    dist.all_gather_object(gathered, (outcome.cases, outcome.failures))
    return [c for cases, _ in gathered for c in cases], [f for _, failures in gathered for f in failures]
