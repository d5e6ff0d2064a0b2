"""Training's validation on the road `evaluate` takes: each case of the validation pipeline through a `Predictor`
(its inference step and its `Scoring`), the next case read on a thread while the network runs.

`evaluate(network, batches, inferer=…, metrics=…, device=…)` scores a network on pipeline batches (dicts with
`image` `(N, C, *spatial)` and the label fields): each batch is split into its cases, each case inferred and
scored as `clara-tlt evaluate` infers and scores it (the output under `"model"`, with the image's affine, so
distances are in mm alike), the ranks' cases merged under torchrun, each metric's aggregate returned.
`validator(workflow, network, context, amp=…)` binds that to a training config's `validate` section.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import torch
from monai.data import decollate_batch
from torch import nn

from clara_tlt.engines import profile
from clara_tlt.engines.assembly import scoring_predictor
from clara_tlt.engines.checkpoint import unwrap
from clara_tlt.engines.distributed import Context
from clara_tlt.engines.evaluation import (
    Batch,
    Evaluation,
    Scoring,
    check_scoring,
    key_metric_name,
    validation_scoring,
)
from clara_tlt.engines.predictor import Network, Predictor, Sample
from clara_tlt.engines.workflow import Workflow
from clara_tlt.inferers import SimpleInferer
from clara_tlt.metrics.base import Metric

CASES_AHEAD = 2  # cases read ahead of the network, as `Predictor.predict_all` keeps them
_END = object()


def validator(
    workflow: Workflow, network: nn.Module, context: Context, *, amp: bool
) -> Callable[[], Evaluation] | None:
    """`evaluate` bound to the validate section (metrics, data, inferer, post-transforms, both sections' aux ops),
    so that `evaluate -c config_train.json` scores what the training scored; None when the config has no
    validation metrics or no validation data."""
    scoring = validation_scoring(workflow, "validate")
    val_data = workflow.get("validate.image_pipeline")
    if not scoring.metrics or val_data is None:
        return None
    check_scoring(workflow, "validate", scoring)
    predictor = scoring_predictor(
        unwrap(network),
        inferer=workflow.get("validate.inferer") or SimpleInferer(),
        scoring=scoring,
        device=context.device,
        amp=amp,
        post_transforms=workflow.get("validate.post_transforms") or [],
    )
    return lambda: validate(predictor, val_data)


def evaluate(
    network: nn.Module,
    batches: Iterable[Batch],
    *,
    inferer: Callable[[torch.Tensor, Network], torch.Tensor],
    metrics: Sequence[Metric],
    aux_ops: Sequence[Callable[[Batch], Batch]] = (),
    device: torch.device,
    amp: bool = False,
) -> Evaluation:
    """Score `network` on `batches`; the network is left in eval mode."""
    scoring = Scoring(metrics=metrics, aux_ops=aux_ops)
    return validate(
        scoring_predictor(network, inferer=inferer, scoring=scoring, device=device, amp=amp), batches
    )


def validate(predictor: Predictor, batches: Iterable[Batch]) -> Evaluation:
    """Every case of `batches` through `predictor` (infer, then score), the network in eval mode; its inner
    stages stay out of a training's `--profile` table (the whole counts as `validation`)."""
    network = predictor.network
    if isinstance(network, nn.Module):
        network.eval()
    predictor.scoring.reset()
    preview = None
    with profile.muted():
        for case in _ahead(_cases(batches), CASES_AHEAD):
            finished = predictor.finish(predictor.infer(case))
            if preview is None:
                preview = _preview(finished)
    predictor.scoring.merge_ranks()
    metrics = predictor.metrics
    return Evaluation(
        metrics={metric.name: metric.aggregate() for metric in metrics},
        key_metric=key_metric_name(metrics),
        preview=preview,
    )


def _cases(batches: Iterable[Batch]) -> Iterator[Sample]:
    """The cases of each batch, one dict each (MetaTensors keep their own affine)."""
    for batch in batches:
        yield from decollate_batch(batch, detach=False)


def _ahead(items: Iterator[Any], size: int) -> Iterator[Any]:
    """`items` produced on a thread, up to `size` ahead of the consumer; the thread's error is raised here."""
    waiting: queue.Queue[Any] = queue.Queue(maxsize=size)
    failure: list[BaseException] = []
    stop = threading.Event()  # the consumer has gone (an error in a case): the thread ends too

    def put(item: Any) -> None:
        while not stop.is_set():
            try:
                return waiting.put(item, timeout=0.1)
            except queue.Full:
                continue

    def produce() -> None:
        try:
            for item in items:
                put(item)
                if stop.is_set():
                    return
        except BaseException as error:  # handed to the consumer, raised there
            failure.append(error)
        put(_END)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while (item := waiting.get()) is not _END:
            yield item
    finally:
        stop.set()
        thread.join()
    if failure:
        raise failure[0]


def _preview(case: Sample) -> dict[str, torch.Tensor] | None:
    """Middle slices of a 3-D segmentation case, scaled to [0, 1] for an image summary."""
    output = case["model"]
    if output.ndim != 4 or "label" not in case:
        return None
    middle = output.shape[-1] // 2
    prediction = output.argmax(dim=0)[..., middle].float() if output.shape[0] > 1 else output[0, ..., middle]
    image = torch.as_tensor(case["image"])[0, ..., middle].float()
    label = torch.as_tensor(case["label"])[0, ..., middle].float()
    return {
        name: _unit(torch.as_tensor(t)).cpu()
        for name, t in (("image", image), ("label", label), ("prediction", prediction))
    }


def _unit(x: torch.Tensor) -> torch.Tensor:
    low, high = x.min(), x.max()
    return (x - low) / (high - low) if high > low else torch.zeros_like(x)
