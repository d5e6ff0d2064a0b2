"""Run an AIAA model config over cases: pre-transforms, the config's inference, post-transforms, writer.

The config is translated into the standard sections (clara_tlt.config.translate: `TRTISInference`/
`TFInference` become our scanning-window or whole-volume inference of the model at `--model_save_path`, or of
a Triton model when the inference's args name `model_name`; `annotation` models get the extreme-points channel
from each case's points) and assembled as a validation config is (clara_tlt.engines.assembly). Any other
inference name is a custom `Inference` class (seed 002) imported from the config folder's `lib/` or the
MMAR's `custom/`, `lib/`, which the assembler runs in place of model and inferer; its `close()` is always
called.

>>> summary = run_aiaa("config/config_aiaa.json", model_path="models/model.pt",
...                    entries=[{"image": "ct.nii.gz"}], output_dir="out")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from clara_tlt.aiaa.api import Inference, ModelConfig, TransformContext
from clara_tlt.aiaa.model_config import AiaaConfig, load_aiaa_config
from clara_tlt.config.loader import ResolvedConfig
from clara_tlt.config.translate import aiaa_sections, is_builtin
from clara_tlt.engines.assembly import Assembled, assemble, formatted_writers, section_writers
from clara_tlt.engines.predictor import Outcome, Sample, case_file
from clara_tlt.engines.workflow import build_workflow
from clara_tlt.errors import ConfigError, NoInputError, UsageError
from clara_tlt.factory.registry import import_path
from clara_tlt.formats.outputs import IMAGE
from clara_tlt.io.dicom_files import looks_like_dicom
from clara_tlt.io.image import NIFTI_SUFFIXES

log = logging.getLogger(__name__)

VOLUME_SUFFIXES = (
    *NIFTI_SUFFIXES,
    ".mhd",
    ".mha",
)  # NIfTI and MetaImage: what an input folder is scanned for


def volumes_in(folder: str | Path) -> list[Sample]:
    """One datalist entry per NIfTI or MetaImage volume in `folder`, and per subfolder holding a DICOM series
    (sorted); NoInputError (exit 4) if none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NoInputError(f"input folder '{folder}' does not exist")
    files = sorted(
        p
        for p in folder.iterdir()
        if (p.is_file() and p.name.lower().endswith(VOLUME_SUFFIXES))
        or (p.is_dir() and any(looks_like_dicom(f) for f in p.iterdir() if f.is_file()))
    )
    if not files:
        raise NoInputError(
            f"no volume in '{folder}': looked for {', '.join(VOLUME_SUFFIXES)} files and DICOM series subfolders"
        )
    return [{"image": str(p)} for p in files]


@dataclass
class CustomInference:
    """The inference step of a custom AIAA `Inference` (or callable), run on the case's `TransformContext`."""

    inference: Inference | Callable[..., Any]
    name: str
    model_config: ModelConfig
    triton_config: Any = None

    def __call__(self, sample: Sample) -> Sample:
        context = TransformContext(sample)
        call: Any = getattr(self.inference, "inference", self.inference)  # an Inference, or a callable
        returned = call(self.name, context, self.model_config, self.triton_config)
        result = returned.sample if isinstance(returned, TransformContext) else returned
        result = result if isinstance(result, dict) else context.sample
        if "model" not in result:
            raise ValueError(f"{self.name}: the inference set no 'model' image (set_image('model', …))")
        return result


@dataclass
class Recorder:
    """The last writer step: keeps each finished case's written file and extreme points for the summary."""

    results: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __call__(self, data: Sample) -> Sample:
        source = getattr(data.get("image"), "meta", {}).get("filename_or_obj") or case_file(data)
        self.results[str(source)] = {
            "output": data.get("model_path"),
            **({"points": data["points"]} if "points" in data else {}),
        }
        return data


def run_aiaa(
    config_file: str | Path,
    *,
    model_path: str | Path | None,
    entries: list[Sample],
    output_dir: str | Path,
    points: Any = None,
    device: torch.device | None = None,
    output_format: str = IMAGE,
) -> dict[str, Any]:
    """Every case of `entries` through the AIAA config; returns the summary (cases, failures, outputs, points).

    `points` (an `annotation` model's clicks): a list of `[i, j, k]` voxels for every case, or a dict from
    image file name to such a list; a datalist entry's own `points` wins. `output_format` `dicom-seg`: the
    config's image writers write DICOM SEG, segments named by its `labels` (`formatted_writers`).
    """
    aiaa = load_aiaa_config(config_file, model_path=model_path)
    entries = [_with_points(e, points) for e in entries] if points is not None else list(entries)
    if not entries:
        raise NoInputError("no cases to run: the datalist or input folder is empty")
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    recorder = Recorder()
    assembled = _assemble(
        aiaa, output_dir=Path(output_dir), device=device, recorder=recorder, output_format=output_format
    )
    try:
        if aiaa.model_config.get_type() == "annotation":
            _check_points(entries, aiaa.file)
        outcome = assembled.predictor.predict_all(entries)
    finally:
        step = assembled.predictor.inference
        closing: Any = step.inference if isinstance(step, CustomInference) else assembled.predictor.network
        if hasattr(closing, "close"):
            closing.close()
    return summary_of(outcome, recorder, output_dir=Path(output_dir))


def summary_of(outcome: Outcome, recorder: Recorder, *, output_dir: Path) -> dict[str, Any]:
    """The JSON-ready summary `raise_for_failures` reads."""
    return {
        "output_path": str(output_dir),
        "cases": len(outcome.cases),
        "seconds": round(outcome.seconds, 3),
        "results": recorder.results,
        "failed": [vars(f) for f in outcome.failures],
    }


def _assemble(
    aiaa: AiaaConfig, *, output_dir: Path, device: torch.device, recorder: Recorder, output_format: str
) -> Assembled:
    """The translated AIAA config, assembled (a custom inference in place of model and inferer); `recorder`
    follows the config's writers."""
    sections = aiaa_sections(aiaa.data, file=str(aiaa.file), model_path=aiaa.model_config.get_path())
    config = ResolvedConfig(
        data=sections,
        variables={"MMAR_EVAL_OUTPUT_PATH": str(output_dir)},  # where a writer without write_path writes
        file=str(aiaa.file),
        code_dirs=aiaa.search_dirs,
    )
    workflow = build_workflow(config)
    inference = None if is_builtin(aiaa.inference) else _custom_inference(aiaa)
    labels = aiaa.model_config.get_labels() or None
    writers = formatted_writers(section_writers(workflow), output_format, labels=labels, file=str(aiaa.file))
    writers = [*writers, recorder]
    return assemble(workflow, device=device, writers=writers, inference=inference)


def _custom_inference(aiaa: AiaaConfig) -> CustomInference:
    """The config's own `Inference` class (seed 002), imported from the config's and the MMAR's code folders."""
    file, inference = str(aiaa.file), aiaa.inference
    name = str(inference["name"])
    factory = import_path(name, file=file, key_path="inference.name", search_dirs=aiaa.search_dirs)
    try:
        custom = factory(**dict(inference.get("args") or {}))
    except TypeError as exc:
        raise ConfigError(f"cannot build {name}: {exc}", file=file, key_path="inference.args") from exc
    if not callable(getattr(custom, "inference", custom)):
        raise ConfigError(
            f"{name} has no inference(name, data, config, triton_config)",
            file=file,
            key_path="inference.name",
        )
    return CustomInference(custom, name, aiaa.model_config, inference.get("trtis"))


def _with_points(entry: Sample, points: Any) -> Sample:
    if "points" in entry:
        return entry
    if isinstance(points, dict):
        found = points.get(Path(str(entry["image"])).name)
        return {**entry, "points": found} if found is not None else entry
    return {**entry, "points": points}


def _check_points(entries: list[Sample], file: Path) -> None:
    missing = [case_file(e) for e in entries if not e.get("points")]
    if missing:
        raise UsageError(
            f"{file.name} is an annotation model: each case needs its extreme points (a 'points' list in the "
            f"datalist entry or --points FILE.json); none for: {', '.join(missing)}"
        )
