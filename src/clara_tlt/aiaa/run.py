"""Run an AIAA model config over cases: pre-transforms, the config's inference, post-transforms, writer.

`TRTISInference`/`TFInference` become our scanning-window (`scanning_window: true`, `roi`, `batch_size`) or
whole-volume inference of the model at `--model_save_path`, or of a Triton model when the inference's args
name `model_name` (then `ip`, `port`, `protocol`, `NVIDIA_CLARA_TRTISURI` say where). Any other name is a
custom `Inference` class (seed 002) imported from the config folder's `lib/` or the MMAR's `custom/`, `lib/`;
its `close()` is always called. `annotation` models get the extreme-points channel from each case's points.

>>> summary = run_aiaa("config/config_aiaa.json", model_path="models/model.pt",
...                    entries=[{"image": "ct.nii.gz"}], output_dir="out")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from clara_tlt.aiaa.api import Inference, ModelConfig, TransformContext
from clara_tlt.aiaa.model_config import AiaaConfig, load_aiaa_config
from clara_tlt.config.keypath import child
from clara_tlt.engines.model_loaders import ModelLoader
from clara_tlt.engines.predictor import Outcome, Predictor, Sample, case_file
from clara_tlt.errors import ConfigError, NoInputError, UsageError
from clara_tlt.factory.registry import build, import_path
from clara_tlt.formats.triton import SERVER_ARGS, triton_model
from clara_tlt.inferers import ScanWindowInferer, SimpleInferer
from clara_tlt.io.image import NIFTI_SUFFIXES
from clara_tlt.transforms.extreme_points import AddExtremePointsChannel
from clara_tlt.transforms.spatial import PRE_SCALE_SHAPE

log = logging.getLogger(__name__)

VOLUME_SUFFIXES = (
    *NIFTI_SUFFIXES,
    ".mhd",
    ".mha",
)  # NIfTI and MetaImage: what an input folder is scanned for


def volumes_in(folder: str | Path) -> list[Sample]:
    """One datalist entry per NIfTI or MetaImage volume in `folder` (sorted); NoInputError (exit 4) if none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NoInputError(f"input folder '{folder}' does not exist")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(VOLUME_SUFFIXES))
    if not files:
        raise NoInputError(f"no volume in '{folder}': looked for {', '.join(VOLUME_SUFFIXES)} files")
    return [{"image": str(p)} for p in files]


def build_steps(
    specs: Any, kind: str, *, file: str, key_path: str, search_dirs: Sequence[Path] = (), **inject: Any
) -> list[Callable[[Sample], Sample]]:
    """Each component of a list (or one spec) in a config section, built."""
    items = [] if specs is None else specs if isinstance(specs, list) else [specs]
    return [
        build(spec, kind, file=file, key_path=child(key_path, i), inject=inject, search_dirs=search_dirs)
        for i, spec in enumerate(items)
    ]


def window_inferer(args: dict[str, Any], *, roi: Sequence[int] | None) -> Any:
    """Our scanning-window inferer for Clara's inferer/inference arguments, minus those naming a server."""
    window = {k: v for k, v in args.items() if k not in SERVER_ARGS}
    window.setdefault("roi_size", roi)
    if window["roi_size"] is None:
        raise ConfigError(
            "scanning-window inference needs 'roi_size' (or 'roi'), or a Triton model of fixed size"
        )
    return build({"name": "ScanWindowInferer", "args": window}, "inferer", file="inference", key_path="args")


@dataclass
class ContextPredictor(Predictor):
    """A `Predictor` whose inference step is a custom AIAA `Inference` on the case's `TransformContext`."""

    inference: Inference | Callable[..., Any] | None = None
    name: str = ""
    model_config: ModelConfig | None = None
    triton_config: Any = None

    def infer(self, sample: Sample) -> Sample:
        assert self.inference is not None and self.model_config is not None
        context = TransformContext(sample)
        call: Any = getattr(self.inference, "inference", self.inference)  # an Inference, or a callable
        returned = call(self.name, context, self.model_config, self.triton_config)
        result = returned.sample if isinstance(returned, TransformContext) else returned
        result = result if isinstance(result, dict) else context.sample
        if "model" not in result:
            raise ValueError(f"{self.name}: the inference set no 'model' image (set_image('model', …))")
        return result


def _no_network(inputs: torch.Tensor) -> torch.Tensor:
    raise RuntimeError("a custom inference computes the output itself")


def _no_inferer(inputs: torch.Tensor, network: Any) -> torch.Tensor:
    raise RuntimeError("a custom inference computes the output itself")


class PointsOnGrid:
    """Move a case's `points` (voxels of the input file) onto the grid `ScaleByResolution` resampled to."""

    def __call__(self, data: Sample) -> Sample:
        image, points = data["image"], data.get("points") or []
        old = getattr(image, "meta", {}).get(PRE_SCALE_SHAPE)
        if old is None or not points:
            return data
        new = image.shape[-len(old) :]
        moved = [
            [min(n - 1, int(p * n / o)) for p, n, o in zip(point, new, old, strict=True)] for point in points
        ]
        return {**data, "points": moved}


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
) -> dict[str, Any]:
    """Every case of `entries` through the AIAA config; returns the summary (cases, failures, outputs, points).

    `points` (an `annotation` model's clicks): a list of `[i, j, k]` voxels for every case, or a dict from
    image file name to such a list; a datalist entry's own `points` wins.
    """
    aiaa = load_aiaa_config(config_file, model_path=model_path)
    entries = [_with_points(e, points) for e in entries] if points is not None else list(entries)
    if not entries:
        raise NoInputError("no cases to run: the datalist or input folder is empty")
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    recorder = Recorder()
    predictor = _predictor(aiaa, output_dir=Path(output_dir), device=device, recorder=recorder)
    try:
        if aiaa.model_config.get_type() == "annotation":
            _check_points(entries, aiaa.file)
        outcome = predictor.predict_all(entries)
    finally:
        closing: Any = predictor.inference if isinstance(predictor, ContextPredictor) else predictor.network
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


def _predictor(aiaa: AiaaConfig, *, output_dir: Path, device: torch.device, recorder: Recorder) -> Predictor:
    data, file, dirs = aiaa.data, str(aiaa.file), aiaa.search_dirs
    pre = build_steps(
        data.get("pre_transforms"), "transform", file=file, key_path="pre_transforms", search_dirs=dirs
    )
    if aiaa.model_config.get_type() == "annotation" and not any(
        isinstance(step, AddExtremePointsChannel) for step in pre
    ):
        pre += [PointsOnGrid(), AddExtremePointsChannel(points_field="points")]
    common: dict[str, Any] = {
        "pre_transforms": pre,
        "post_transforms": build_steps(
            data.get("post_transforms"), "transform", file=file, key_path="post_transforms", search_dirs=dirs
        ),
        "writers": [
            *build_steps(
                data.get("writer"), "writer", file=file, key_path="writer", write_path=str(output_dir)
            ),
            recorder,
        ],
        "device": device,
    }
    inference = aiaa.inference
    args = dict(inference.get("args") or {})
    if not aiaa.is_builtin():
        name = str(inference["name"])
        factory = import_path(name, file=file, key_path="inference.name", search_dirs=dirs)
        try:
            custom = factory(**args)
        except TypeError as exc:
            raise ConfigError(f"cannot build {name}: {exc}", file=file, key_path="inference.args") from exc
        if not callable(getattr(custom, "inference", custom)):
            raise ConfigError(
                f"{name} has no inference(name, data, config, triton_config)",
                file=file,
                key_path="inference.name",
            )
        return ContextPredictor(
            network=_no_network,
            inferer=_no_inferer,
            inference=custom,
            name=name,
            model_config=aiaa.model_config,
            triton_config=inference.get("trtis"),
            **common,
        )
    input_name, output_name = aiaa.tensor_names()
    if args.get("model_name"):
        network: Any = triton_model(args, input_name=input_name, output_name=output_name)
        roi = args.get("roi") or network.window_roi()
    else:
        path = aiaa.model_config.get_path()
        if not path:
            raise UsageError(
                "no model: give --model_save_path (or 'model_name' of a Triton model in inference.args)"
            )
        network = ModelLoader(str(path)).load(device=device, search_dirs=dirs).network
        roi = args.get("roi")
    if args.get("scanning_window", False):
        if roi is None:
            raise ConfigError("scanning_window needs 'roi'", file=file, key_path="inference.args.roi")
        inferer: Any = ScanWindowInferer(roi_size=roi, batch_size=int(args.get("batch_size", 1)))
    else:
        inferer = SimpleInferer()
    return Predictor(network=network, inferer=inferer, **common)


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
