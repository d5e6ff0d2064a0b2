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
from typing import Any

import torch
from monai.data import MetaTensor
from monai.transforms import Invertd, LoadImaged

from clara_tlt.engines import profile
from clara_tlt.engines.evaluation import Scoring, plain
from clara_tlt.engines.reports import CaseFailure
from clara_tlt.errors import ClaraError
from clara_tlt.io.outputs import OUTPUT_NAME, case_name, name_entries
from clara_tlt.metrics.base import Metric
from clara_tlt.transforms.base import CHANNEL_DIM
from clara_tlt.transforms.io import LoadImageFields, WriteNiftyResults
from clara_tlt.transforms.layout import ArgmaxAcrossChannels
from clara_tlt.transforms.spatial import RestoreOriginalShape

log = logging.getLogger(__name__)

Sample = dict[str, Any]
Step = Callable[[Sample], Sample]
Network = Callable[[torch.Tensor], torch.Tensor]
QUEUE_CASES = 2  # cases waiting between reading and inference, and between inference and writing
_END = object()
# `--profile`: the stage of a transform that is not the stage of the list it stands in
OWN_STAGES: tuple[tuple[tuple[type, ...], str], ...] = (
    ((LoadImageFields, LoadImaged), profile.READ),
    ((RestoreOriginalShape, Invertd), profile.RESAMPLE_BACK),
    ((WriteNiftyResults,), profile.WRITE),
)
CASE_STAGES = (
    profile.READ,
    profile.PRE,
    profile.FORWARD,
    profile.STITCH,
    profile.POST,
    profile.RESAMPLE_BACK,
)


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
    while it blends (its label-streaming mode) and that post-transform is left out. `inference`, when given,
    is a bring-your-own inference step (AIAA's custom `Inference`) that sets `"model"` itself; `network` and
    `inferer` are then not used.
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
    inference: Step | None = None

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
        self.scoring = Scoring(self.metrics, self.aux_ops)
        self.scoring.reset()

    def prepare(self, entry: Sample) -> Sample:
        """Read and pre-process a case (and its labels, when there are metrics); `OUTPUT_NAME` names its outputs
        (the entry's, else `case_name` of its image), set after the transforms so that none can drop it."""
        sample = {key: value for key, value in entry.items() if key != OUTPUT_NAME}
        sample = _run_steps((*self.pre_transforms, *self.label_transforms), sample, profile.PRE)
        return {**sample, OUTPUT_NAME: entry.get(OUTPUT_NAME) or case_name(case_file(entry))}

    def infer(self, sample: Sample) -> Sample:
        """Run the inferer on `sample["image"]` `(C_in, *spatial)` (or the bring-your-own inference, under
        autograd as the AIAA code it ports expects); the output goes to `"model"`."""
        if self.inference is None:
            return self._run_network(sample)
        with profile.current().stage(profile.FORWARD):
            return self.inference(sample)

    @torch.no_grad()
    def _run_network(self, sample: Sample) -> Sample:
        """The inferer's output for the case; `--profile`: the network's calls are "network forward", the rest
        (windows, blending, copies between devices) "window stitching"."""
        timer, cuda = profile.current(), self.device.type == "cuda"
        network = _TimedNetwork(self.network, cuda=cuda) if timer.on else self.network
        with timer.stage(profile.STITCH, cuda=cuda):
            image = sample["image"]
            inputs = plain(image).unsqueeze(0).to(self.device, non_blocking=True)
            if not inputs.is_floating_point():
                inputs = inputs.float()
            with torch.autocast(self.device.type, enabled=self.amp):
                output = plain(self.inferer(inputs, network))[0]
            output = (output.float() if output.is_floating_point() else output).cpu()
        meta = copy.deepcopy(getattr(image, "meta", {}))  # the affine among them
        meta[CHANNEL_DIM] = 0
        return {**sample, "model": MetaTensor(output, meta=meta)}

    def finish(self, sample: Sample) -> Sample:
        """Post-process, write, and score a case whose `"model"` is set."""
        sample = _run_steps(self.post_transforms, sample, profile.POST)
        sample = _run_steps(self.writers, sample, profile.WRITE)
        if self.metrics:
            with profile.current().stage(profile.SCORE):
                self.score(sample)
        return sample

    def score(self, sample: Sample) -> None:
        """Score one case as a batch of one (`Scoring.update`: every metric or, on an error, none)."""
        self.scoring.update(
            {k: v.unsqueeze(0) if isinstance(v, torch.Tensor) else v for k, v in sample.items()}
        )

    def predict(self, entry: Sample) -> Sample:
        """One case from its datalist entry to its written outputs; returns the finished sample."""
        return self.finish(self.infer(self.prepare(entry)))

    def _stages(self) -> tuple[str, ...]:
        """The stages every case goes through, listed in the `--profile` table even when they take no time."""
        return (*CASE_STAGES, *(profile.WRITE,) * bool(self.writers), *(profile.SCORE,) * bool(self.metrics))

    def predict_all(self, entries: Iterable[Sample]) -> Outcome:
        """Every case, reading, inferring and writing on three threads; failures are collected, not raised.

        With writers, two cases that would write the same output name are told apart or refused
        (`clara_tlt.io.outputs.output_names`, NoInputError) before any case is read.
        """
        entries = name_entries(list(entries), case_file) if self.writers else list(entries)
        profile.current().expect(*self._stages())
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


def _run_steps(steps: Sequence[Step], sample: Sample, stage: str) -> Sample:
    """Apply `steps` in order, each timed (`--profile`) as `stage` or the stage of its kind (`OWN_STAGES`)."""
    timer = profile.current()
    for step in steps:
        own = (
            next((name for kinds, name in OWN_STAGES if isinstance(step, kinds)), stage)
            if timer.on
            else stage
        )
        with timer.stage(own):
            sample = step(sample)
    return sample


class _TimedNetwork(torch.nn.Module):
    """`network` timed as the profile's "network forward" (a module, so that an inferer finds its device)."""

    def __init__(self, network: Network, *, cuda: bool) -> None:
        super().__init__()
        self.network, self.on_cuda = network, cuda

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        with profile.current().stage(profile.FORWARD, cuda=self.on_cuda):
            return self.network(*args, **kwargs)


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
