"""Bring your own inference (seed 002): the example class as docs/deploy.md ports it runs; close() always runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nibabel as nib
import numpy as np

from tests.aiaa.test_aiaa import deploy
from tests.conftest import REPO, write_json

CUSTOM_NETWORK = '''
import torch


class CustomModel(torch.nn.Module):
    """Doubles its input: a network whose output the test knows."""

    def __init__(self, input_channels, output_channels):
        super().__init__()
        self.conv = torch.nn.Conv3d(input_channels, output_channels, kernel_size=1)
        with torch.no_grad():
            self.conv.weight.fill_(2.0)
            self.conv.bias.zero_()

    def forward(self, image):
        return self.conv(image)
'''
# The example's third-party import, standing in for scikit-image (not a dependency): invert of a float image.
SKIMAGE_UTIL = "def invert(image):\n    return 1 - image\n"
FAILING = """
from pathlib import Path

from clara_tlt.aiaa import Inference


class FailingInference(Inference):
    def __init__(self, marker):
        self.marker = Path(marker)

    def inference(self, name, data, config, triton_config):
        raise RuntimeError("custom inference failed on purpose")

    def close(self):
        self.marker.write_text("closed")
"""


def docs_example() -> str:
    """The first Python block after `<!-- byo-example -->` in docs/deploy.md."""
    text = (REPO / "docs" / "deploy.md").read_text()
    found = re.search(r"<!-- byo-example -->\s*```python\n(.*?)```", text, re.DOTALL)
    assert found, "docs/deploy.md has no byo-example block"
    return found.group(1)


def byo_config(folder: Path, name: str, args: dict) -> Path:
    """Seed 002's config_aiaa.json, its elided lists filled in."""
    return write_json(
        folder / "config_aiaa.json",
        {
            "version": "3",
            "type": "others",
            "labels": ["xyz"],
            "description": "Custom Model to solve some xyz use case",
            "pre_transforms": [
                {"name": "LoadNifti", "args": {"fields": "image", "as_closest_canonical": "false"}},
                {"name": "ConvertToChannelsFirst", "args": {"fields": "image"}},
            ],
            "inference": {"name": name, "args": args},
            "post_transforms": [
                {
                    "name": "CopyProperties",
                    "args": {"fields": ["model"], "from_field": "image", "properties": ["affine"]},
                }
            ],
            "writer": {"name": "WriteNifti", "args": {"field": "model"}},
        },
    )


def test_the_ported_seed_example_runs(ct_folder: Path, model_file: Path, tmp_path: Path) -> None:
    lib = tmp_path / "mmar" / "config" / "lib"
    (lib / "skimage").mkdir(parents=True)
    (lib / "custom_inference.py").write_text(docs_example())
    (lib / "custom_network.py").write_text(CUSTOM_NETWORK)
    (lib / "skimage" / "__init__.py").write_text("")
    (lib / "skimage" / "util.py").write_text(SKIMAGE_UTIL)
    config = byo_config(lib.parent, "custom_inference.CustomInference", {})
    out = tmp_path / "out"
    code, stdout, stderr = deploy(
        "--config", config, "--model_save_path", model_file, "--input", ct_folder, "--output", out
    )
    assert code == 0, stderr
    assert json.loads(stdout)["cases"] == 2
    source = nib.load(ct_folder / "ct_a.nii.gz")
    written = nib.load(out / "ct_a" / "ct_a_model.nii.gz")
    np.testing.assert_allclose(written.get_fdata(), 2 * (1 - source.get_fdata()), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(written.affine, source.affine, atol=1e-5)


def test_close_is_called_when_the_inference_fails(ct_folder: Path, model_file: Path, tmp_path: Path) -> None:
    lib = tmp_path / "cfg" / "lib"
    lib.mkdir(parents=True)
    (lib / "failing_inference.py").write_text(FAILING)
    marker = tmp_path / "closed.txt"
    config = byo_config(lib.parent, "failing_inference.FailingInference", {"marker": str(marker)})
    code, _, stderr = deploy(
        "--config", config, "--model_save_path", model_file, "--input", ct_folder, "--output", tmp_path / "o"
    )
    assert code == 1 and "none of the 2 case(s) was done" in stderr  # every case failed
    assert "custom inference failed on purpose" in stderr
    assert marker.read_text() == "closed"
