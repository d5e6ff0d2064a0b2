"""The Clara Deploy base inference operator (seed 001): every volume of an input folder → a segmentation.

`config_inference.json` is a validation config (pre-transforms, `inferer`, `model_loader`, post-transforms),
translated (clara_tlt.config.translate) and assembled as one (clara_tlt.engines.assembly). With
`TRTISModelLoader` the inferer's `model_name`, `ip`, `port`, `protocol` (or `NVIDIA_CLARA_TRTISURI`) name a
Triton model that computes each window batch; with a local model file (`ModelLoader` / `PyTorchModelLoader`
at a `.ts`, `.onnx` or `.pt`) no server is needed. The config's own `writers` are replaced by the operator's: `OUTPUT/<input base name>.mhd` (+ `.raw`), and with a publish folder the
original volume as `image.mhd`, the segmentation as `image.out.mhd`, `config_render.json` from the config's
folder when present and a `config.meta` listing them (one subfolder per volume when there are several).
`{NAME}` in the config may be any environment variable, as the operator's container sets them.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clara_tlt.aiaa.run import Recorder, summary_of, volumes_in
from clara_tlt.atomic import atomic_path
from clara_tlt.config import ResolvedConfig, load_config
from clara_tlt.config.translate import operator_sections
from clara_tlt.engines.assembly import assemble
from clara_tlt.engines.predictor import Sample
from clara_tlt.engines.workflow import build_workflow
from clara_tlt.formats.outputs import DICOM_SEG, IMAGE
from clara_tlt.io import Volume, read_image, write_image
from clara_tlt.io.outputs import inside, name_of
from clara_tlt.writers.dicom_seg import WriteDicomSeg, segment_specs

log = logging.getLogger(__name__)

RENDER_CONFIG = "config_render.json"
LOG_FILE = "clara_tlt_deploy.log"


@dataclass
class DeployWriter:
    """Write a case's `model` labels `(1, X, Y, Z)` as the operator names them, and publish when asked."""

    output_dir: Path
    publish_dir: Path | None = None
    render_config: Path | None = None
    several: bool = False

    def __call__(self, data: Sample) -> Sample:
        labels = data["model"]
        source = Path(str(labels.meta.get("filename_or_obj") or data["image"].meta["filename_or_obj"]))
        array = labels.detach().cpu().numpy()
        array = array[0] if array.ndim == 4 else array
        dtype = np.uint8 if array.max(initial=0) < 256 and array.min(initial=0) >= 0 else np.int16
        volume = Volume.from_affine(
            np.ascontiguousarray(array.astype(dtype).transpose(2, 1, 0)), labels.affine.numpy()
        )
        name = name_of(data, source)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        target = inside(self.output_dir, self.output_dir / f"{name}.mhd", source=source)
        written = write_image(volume, target, compress=False)
        log.info("%s → %s", source, written)
        if self.publish_dir is not None:
            folder = (
                inside(self.publish_dir, self.publish_dir / name, source=source)
                if self.several
                else self.publish_dir
            )
            self.publish(source, volume, folder)
        return {**data, "model_path": str(written)}

    def publish(self, source: Path, segmentation: Volume, folder: Path) -> None:
        """`image.mhd`, `image.out.mhd`, `config_render.json` (when the config folder has one), `config.meta`."""
        folder.mkdir(parents=True, exist_ok=True)
        write_image(read_image(source), folder / "image.mhd", compress=False)
        write_image(segmentation, folder / "image.out.mhd", compress=False)
        files = [
            {"name": "image.mhd", "data": "image.raw", "role": "image", "source": source.name},
            {"name": "image.out.mhd", "data": "image.out.raw", "role": "segmentation"},
        ]
        if self.render_config is not None:
            with atomic_path(folder / RENDER_CONFIG) as tmp:
                shutil.copyfile(self.render_config, tmp)
            files.append({"name": RENDER_CONFIG, "role": "render_config"})
        with atomic_path(folder / "config.meta") as tmp:
            tmp.write_text(json.dumps({"files": files}, indent=2) + "\n")


def run_operator(
    config_file: str | Path,
    *,
    input_dir: str | Path,
    output_dir: str | Path,
    publish_dir: str | Path | None = None,
    logs_dir: str | Path | None = None,
    device: torch.device | None = None,
    output_format: str = IMAGE,
) -> dict[str, Any]:
    """Segment every NIfTI/MetaImage volume and DICOM series subfolder in `input_dir`; returns the summary
    (see `run.summary_of`). `output_format` `dicom-seg`: a DICOM SEG per DICOM case instead of MetaImage
    (`OUTPUT/<name>/<name>_model.dcm`; nothing is published).

    NoInputError (exit 4) when the folder holds no volume; failed volumes are listed in `failed`.
    """
    config_path = Path(config_file)
    entries = volumes_in(input_dir)
    variables = {
        "MMAR_EVAL_OUTPUT_PATH": str(output_dir),  # what the validation config's own writers name
        "MMAR_CKPT_DIR": str(config_path.resolve().parent),  # a model_loader's {MMAR_CKPT_DIR}/model.ts
        **{k: v for k, v in os.environ.items() if k.isupper()},
    }
    config = load_config(config_path, variables=variables)
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    render = config_path.resolve().parent / RENDER_CONFIG
    writer = DeployWriter(
        Path(output_dir),
        publish_dir=Path(publish_dir) if publish_dir is not None else None,
        render_config=render if render.is_file() else None,
        several=len(entries) > 1,
    )
    with _log_file(logs_dir):
        sections = operator_sections(config.data, file=config.file, folder=config_path.resolve().parent)
        workflow = build_workflow(ResolvedConfig(data=sections, variables={}, file=config.file))
        if config.data.get("writers"):
            log.info("the config's writers are replaced by the operator's (MetaImage named as the input)")
        recorder = Recorder()
        writers = [writer] if output_format != DICOM_SEG else [_seg_writer(config, output_dir, publish_dir)]
        predictor = assemble(workflow, device=device, writers=[*writers, recorder]).predictor
        try:
            outcome = predictor.predict_all(entries)
        finally:
            if hasattr(predictor.network, "close"):
                predictor.network.close()
    return summary_of(outcome, recorder, output_dir=Path(output_dir))


def _seg_writer(
    config: ResolvedConfig, output_dir: str | Path, publish_dir: str | Path | None
) -> WriteDicomSeg:
    """`--output-format dicom-seg`: the SEG writer in place of the MetaImage one, segments named by `labels`."""
    labels = config.data.get("labels")
    segment_specs(labels, file=config.file)
    if publish_dir is not None:
        log.warning(
            "--output-format dicom-seg: nothing is published to %s (the Render Server shows MetaImage)",
            publish_dir,
        )
    return WriteDicomSeg("model", write_path=str(output_dir), labels=labels)


@contextmanager
def _log_file(logs_dir: str | Path | None) -> Any:
    """Copy clara_tlt's log lines to `LOGS/clara_tlt_deploy.log` while the operator runs."""
    if logs_dir is None:
        yield
        return
    Path(logs_dir).mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(Path(logs_dir) / LOG_FILE)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("clara_tlt")
    level = logger.level
    logger.setLevel(min(logger.getEffectiveLevel(), logging.INFO))  # the log file gets the info lines
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        handler.close()
