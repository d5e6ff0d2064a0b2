"""The one assembler: a built workflow (a resolved config's components) and its model → a `Predictor`.

Every case run takes this road: infer and evaluate of a validation config as it is, AIAA's `config_aiaa.json`
and the Deploy operator's `config_inference.json` once translated into the same sections
(clara_tlt.config.translate). A config keeps them at its top level (a validation config) or in `validate`:
`pre_transforms`, `label_transforms`, `inferer`, `post_transforms`, `writers`/`writer`, `aux_ops`,
`metrics`/`val_metrics`, `model_loader`; scoring also runs the `train` section's aux ops, as training's
validation does (clara_tlt.engines.evaluation.validation_scoring). Where the roads genuinely differ, `assemble` takes an option:
`writers` replaces the config's writers (the operator's own), `inference` replaces model and inferer (AIAA's
bring-your-own `Inference`). Training's validation takes `scoring_predictor`: its network is in memory and its
cases come transformed from the validation pipeline, so its Predictor only infers and scores.

>>> predictor = assemble(build_workflow(config), device=torch.device("cpu")).predictor  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from clara_tlt.config.keypath import child
from clara_tlt.config.loader import ResolvedConfig
from clara_tlt.config.translate import NO_WINDOW, WINDOW_FROM_MODEL
from clara_tlt.engines.checkpoint import config_network
from clara_tlt.engines.distributed import amp_enabled
from clara_tlt.engines.evaluation import Scoring, validation_scoring
from clara_tlt.engines.model_loaders import LoadedModel, ModelLoader
from clara_tlt.engines.predictor import Network, Predictor, Step
from clara_tlt.engines.workflow import Workflow
from clara_tlt.errors import ConfigError, UsageError
from clara_tlt.factory.registry import build
from clara_tlt.formats.outputs import DICOM_SEG
from clara_tlt.inferers import SimpleInferer
from clara_tlt.transforms.io import WriteNiftyResults
from clara_tlt.transforms.layout import ArgmaxAcrossChannels
from clara_tlt.writers.dicom_seg import WriteDicomSeg, segment_specs

log = logging.getLogger(__name__)


@dataclass
class Assembled:
    """The Predictor and the model it runs (None with a bring-your-own inference)."""

    predictor: Predictor
    model: LoadedModel | None


def prediction_section(config: ResolvedConfig) -> str:
    """Where a config keeps what predicts: the top level of a validation config, else its `validate` section."""
    return "" if "pre_transforms" in config.data else "validate"


def section_writers(workflow: Workflow) -> list[Any]:
    """The built writers of the prediction section (`writers` is a list, `writer` one object)."""
    section = prediction_section(workflow.config)
    built = workflow.get(child(section, "writers")) or workflow.get(child(section, "writer"))
    return [] if built is None else built if isinstance(built, list) else [built]


DEFAULT_WRITER: dict[str, Any] = {
    "field": "model",
    "dtype": "uint8",
}  # config_validation.json's WriteNifti args


def default_writers(workflow: Workflow, output_dir: Path) -> list[Step]:
    """What infer writes for a config that names no writer (a training config's `validate` section), as the
    validation config of the same task does: the labels of `model` (the argmax of several channels) as uint8
    NIfTI at `<output_dir>/<case>/<case>_model.nii.gz`, with the image's affine (the input's grid when the
    pre-transforms keep it)."""
    spec = {"name": "WriteNifti", "args": {**DEFAULT_WRITER, "write_path": str(output_dir)}}
    writer = build(spec, "writer", file=workflow.config.file, key_path="(default writer)")
    return [_labels, writer]


def formatted_writers(
    writers: Sequence[Step], output_format: str, *, labels: Any = None, file: str | None = None
) -> list[Step]:
    """`writers` as `--output-format` asks: as they are (`image`), or (`dicom-seg`) each image writer
    (WriteNifti, WriteMhd) replaced by a `WriteDicomSeg` of its field and folder, segments of `model` named by
    the config's `labels` (another field's one segment by the field); other writers (a classification CSV)
    stay. UsageError when no writer writes an image."""
    if output_format != DICOM_SEG:
        return list(writers)
    segment_specs(labels, file=file)  # a malformed `labels` is a config error before any work
    if not any(isinstance(writer, WriteNiftyResults) for writer in writers):
        raise UsageError(
            f"--output-format {DICOM_SEG}: {file or 'the config'} writes no image to turn into a DICOM SEG "
            "(no WriteNifti/WriteMhd writer); leave out --output-format"
        )
    return [
        WriteDicomSeg(
            writer.key,
            write_path=str(writer.write_path),
            labels=labels if writer.key == "model" else [writer.key],  # `pred_class1`: a one-hot field
        )
        if isinstance(writer, WriteNiftyResults)
        else writer
        for writer in writers
    ]


ARGMAX = ArgmaxAcrossChannels("model")


def _labels(sample: dict[str, Any]) -> dict[str, Any]:
    """`model` as labels: class scores `(C > 1, *spatial)` become their argmax; one channel stays as it is."""
    return ARGMAX(sample) if sample["model"].shape[0] > 1 else sample


def assemble(
    workflow: Workflow,
    *,
    device: torch.device,
    score: bool = False,
    writers: Sequence[Step] | None = None,
    inference: Step | None = None,
) -> Assembled:
    """The Predictor of a built workflow on `device`, its model loaded (`load_model`).

    `score`: with the label transforms, and the metrics and aux ops of training's validation
    (`validation_scoring`: the train section's aux ops too). `writers`: these instead of the config's.
    `inference`: a step that sets `"model"` itself; no model is loaded and no inferer used.
    """
    config = workflow.config
    section = prediction_section(config)

    def built(slot: str) -> Any:
        return workflow.get(child(section, slot))

    loaded = None if inference is not None else load_model(workflow, device=device)
    scoring = validation_scoring(workflow, section) if score else Scoring()
    return Assembled(
        Predictor(
            network=loaded.network if loaded is not None else _no_network,
            inferer=_inferer(built("inferer"), config, loaded) if loaded is not None else _no_inferer,
            pre_transforms=built("pre_transforms") or [],
            label_transforms=(built("label_transforms") or []) if score else [],
            post_transforms=built("post_transforms") or [],
            writers=section_writers(workflow) if writers is None else list(writers),
            aux_ops=scoring.aux_ops,
            metrics=scoring.metrics,
            device=device,
            amp=amp_enabled(bool(config.get("use_amp", False)), device),
            inference=inference,
        ),
        loaded,
    )


def scoring_predictor(
    network: Network,
    *,
    inferer: Any,
    scoring: Scoring,
    device: torch.device,
    amp: bool,
    post_transforms: Sequence[Step] = (),
) -> Predictor:
    """The Predictor of training's validation: `network` as it is in memory, the cases already transformed by the
    validation pipeline, so it infers, post-processes as `evaluate` does, and scores (no writers, no model file)."""
    return Predictor(
        network=network,
        inferer=inferer,
        post_transforms=post_transforms,
        aux_ops=scoring.aux_ops,
        metrics=scoring.metrics,
        device=device,
        amp=amp,
    )


def load_model(workflow: Workflow, *, device: torch.device) -> LoadedModel:
    """The model on `device`: `--model_save_path`/`--model_format` first, then the config's `model_loader`, then
    MMAR_CKPT_DIR/model.pt; a checkpoint's network is the config's when it names one."""
    config = workflow.config
    configured = workflow.get(child(prediction_section(config), "model_loader"))
    loaded = _model_loader(config, configured).load(
        device=device, model_spec=config_network(config), search_dirs=config.search_dirs
    )
    log.info("model %s (%s)", loaded.path, loaded.model_format)
    return loaded


def _model_loader(config: ResolvedConfig, configured: Any) -> Any:
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


def _inferer(configured: Any, config: ResolvedConfig, loaded: LoadedModel) -> Any:
    """The config's inferer; a scanning window a translated config leaves to the model (`WINDOW_FROM_MODEL`)
    takes the model's fixed input size (a Triton model's `window_roi()`); else whole volumes."""
    window = config.data.get(WINDOW_FROM_MODEL)
    if window is None:
        return configured or SimpleInferer()
    roi = getattr(loaded.network, "window_roi", lambda: None)()
    if roi is None:
        raise ConfigError(NO_WINDOW, file=config.file)
    return build(
        {"name": "ScanWindowInferer", "args": {**window, "roi_size": roi}},
        "inferer",
        file=config.file,
        key_path=WINDOW_FROM_MODEL,
    )


def _no_network(inputs: torch.Tensor) -> torch.Tensor:
    raise RuntimeError("a custom inference computes the output itself")


def _no_inferer(inputs: torch.Tensor, network: Network) -> torch.Tensor:
    raise RuntimeError("a custom inference computes the output itself")
