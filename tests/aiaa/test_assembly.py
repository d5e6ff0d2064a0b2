"""One road: an AIAA config and the validation config it translates to are assembled into the same Predictor."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import torch

from clara_tlt.aiaa.run import run_aiaa
from clara_tlt.config import load_config
from clara_tlt.config.translate import aiaa_sections
from clara_tlt.engines.assembly import assemble
from clara_tlt.engines.workflow import build_workflow
from clara_tlt.inferers import ScanWindowInferer
from tests.conftest import write_json


def test_an_aiaa_config_writes_what_its_translation_writes_as_a_validation_config(
    aiaa_config: Path, model_file: Path, ct_folder: Path, tmp_path: Path
) -> None:
    case = {"image": str(ct_folder / "ct_a.nii.gz")}
    run_aiaa(aiaa_config, model_path=model_file, entries=[case], output_dir=tmp_path / "aiaa")

    sections = aiaa_sections(json.loads(aiaa_config.read_text()), file="c.json", model_path=model_file)
    validation = write_json(tmp_path / "config_validation.json", sections)
    config = load_config(validation, variables={"MMAR_EVAL_OUTPUT_PATH": str(tmp_path / "validation")})
    assembled = assemble(build_workflow(config), device=torch.device("cpu"))
    assert isinstance(assembled.predictor.inferer, ScanWindowInferer)
    assert assembled.model is not None and assembled.model.path == model_file
    assembled.predictor.predict(case)

    written = [nib.load(tmp_path / f / "ct_a" / "ct_a_model.nii.gz") for f in ("aiaa", "validation")]
    np.testing.assert_array_equal(np.asarray(written[0].dataobj), np.asarray(written[1].dataobj))
    assert np.asarray(written[0].dataobj).any()


def test_a_custom_inference_replaces_model_and_inferer(tmp_path: Path) -> None:
    config = load_config(write_json(tmp_path / "c.json", {"pre_transforms": [], "post_transforms": []}))

    def inference(sample: dict) -> dict:
        return {**sample, "model": sample["image"] * 2}

    assembled = assemble(build_workflow(config), device=torch.device("cpu"), writers=[], inference=inference)
    assert assembled.model is None  # no model is looked for
    result = assembled.predictor.infer({"image": torch.ones(1, 2, 2, 2)})
    assert torch.equal(result["model"], torch.full((1, 2, 2, 2), 2.0))
