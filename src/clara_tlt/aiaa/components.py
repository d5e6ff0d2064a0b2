"""Components that translated AIAA and Deploy operator configs name by path (clara_tlt.config.translate).

`ServedModelLoader` is the model loader of a Triton-served model (Clara's `TRTISInference` with a
`model_name`, the operator's `TRTISModelLoader`): `load` connects, waiting for the server. `PointsOnGrid` moves
an annotation model's clicks onto the grid the pre-transforms resampled to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clara_tlt.engines.model_loaders import LoadedModel
from clara_tlt.formats.triton import triton_model
from clara_tlt.transforms.spatial import PRE_SCALE_SHAPE

SERVED_FORMAT = "triton"


@dataclass
class ServedModelLoader:
    """The Triton model `server` names (`model_name`, `ip`, `port`, `protocol`, `ready_timeout`)."""

    server: Mapping[str, Any]
    input_name: str | None = None
    output_name: str | None = None

    def load(self, **_file_loading: Any) -> LoadedModel:
        """Connect to the server (a ClaraError, exit 1, when it is not ready). It takes the keywords of
        `ModelLoader.load` and needs none: the device, network spec and search folders are for loading files."""
        model = triton_model(self.server, input_name=self.input_name, output_name=self.output_name)
        return LoadedModel(model, Path(model.url) / model.model_name, SERVED_FORMAT)


class PointsOnGrid:
    """Move a case's `points` (voxels of the input file) onto the grid `ScaleByResolution` resampled to."""

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        image, points = data["image"], data.get("points") or []
        old = getattr(image, "meta", {}).get(PRE_SCALE_SHAPE)
        if old is None or not points:
            return data
        new = image.shape[-len(old) :]
        moved = [
            [min(n - 1, int(p * n / o)) for p, n, o in zip(point, new, old, strict=True)] for point in points
        ]
        return {**data, "points": moved}
