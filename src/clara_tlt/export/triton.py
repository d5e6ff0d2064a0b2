"""A Triton model repository: `REPO/NAME/1/model.{onnx,plan,pt}` and `REPO/NAME/config.pbtxt`.

`config.pbtxt` is Triton's `ModelConfig` in protobuf text format, in the shape of seed 000's `trtis` section:
platform, max_batch_size, input/output (name, TYPE_FP32, dims without the batch, -1 where dynamic),
instance_group. Serve it with `tritonserver --model-repository REPO`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from clara_tlt.export.options import TensorNames

# platform → (the artefact it serves, its file name in the version folder)
PLATFORM_FILES = {
    "onnxruntime_onnx": ("onnx", "model.onnx"),
    "tensorrt_plan": ("tensorrt", "model.plan"),
    "pytorch_libtorch": ("torchscript", "model.pt"),
}
VERSION = "1"


@dataclass(frozen=True)
class TritonModel:
    """One model of a repository: `name` (its folder), platform, batch limit, tensor names and dims."""

    name: str
    platform: str
    max_batch_size: int
    names: TensorNames
    input_dims: list[int]
    output_dims: list[int]

    def model_file(self, repo: Path) -> Path:
        return repo / self.name / VERSION / PLATFORM_FILES[self.platform][1]

    def config_file(self, repo: Path) -> Path:
        return repo / self.name / "config.pbtxt"

    def tensor_names(self) -> TensorNames:
        """The names Triton binds: libtorch models have none of their own, so Triton's `NAME__index`."""
        if self.platform == "pytorch_libtorch":
            return TensorNames(input=f"{self.names.input}__0", output=f"{self.names.output}__0")
        return self.names

    def config_text(self) -> str:
        """`config.pbtxt`."""
        names = self.tensor_names()
        return "\n".join(
            [
                f"name: {json.dumps(self.name)}",
                f'platform: "{self.platform}"',
                f"max_batch_size: {self.max_batch_size}",
                "input [",
                *_tensor(names.input, self.input_dims),
                "]",
                "output [",
                *_tensor(names.output, self.output_dims),
                "]",
                "instance_group [",
                "  {",
                "    count: 1",
                "    kind: KIND_AUTO",
                "  }",
                "]",
                "",
            ]
        )


def _tensor(name: str, dims: list[int]) -> list[str]:
    return [
        "  {",
        f"    name: {json.dumps(name)}",
        "    data_type: TYPE_FP32",
        f"    dims: [ {', '.join(str(d) for d in dims)} ]",
        "  }",
    ]
