"""Write a small synthetic 2-D classification dataset: grey PNG pictures, some with a bright blob, and a datalist.

The class is visible: label `[0, 1]` (one-hot: "blob") when the picture holds a bright disc, `[1, 0]` ("none")
when it is noise alone, so a small classifier learns it in an epoch or two. Layout (paths relative to the
datalist, as the segmentation dataset's)::

    OUT/datalist.json   {"training": [{"image": "images/case_000.png", "label": [0, 1]}, ...], "validation": [...]}
    OUT/images/         8-bit grey PNG pictures
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from clara_tlt.atomic import atomic_path, write_text_atomic

CLASS_NAMES = ("none", "blob")
BACKGROUND, NOISE, BLOB = 90.0, 18.0, 200.0


def make_picture(size: int, *, blob: bool, rng: np.random.Generator) -> np.ndarray:
    """A `(size, size)` uint8 picture of noise, with a bright disc of radius size/8 to size/5 when `blob`."""
    picture = rng.normal(BACKGROUND, NOISE, (size, size))
    if blob:
        radius = rng.uniform(size / 8, size / 5)
        centre = rng.uniform(radius, size - radius, 2)
        rows, cols = np.mgrid[:size, :size]
        picture[(rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 < radius**2] = BLOB
    return np.clip(np.rint(picture), 0, 255).astype(np.uint8)


def write_png(picture: np.ndarray, path: Path) -> None:
    """Save a grey picture as PNG, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Image.fromarray(picture).save(tmp, format="PNG")


def write_classification_dataset(
    out_dir: str | Path, *, num_training: int = 32, num_validation: int = 8, size: int = 32, seed: int = 0
) -> Path:
    """Write the dataset and return the datalist's path; the classes alternate, so each split holds both."""
    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    datalist: dict[str, list[dict[str, Any]]] = {"training": [], "validation": []}
    for index in range(num_training + num_validation):
        blob = index % 2 == 1
        name = f"images/case_{index:03d}.png"
        write_png(make_picture(size, blob=blob, rng=rng), out / name)
        split = "training" if index < num_training else "validation"
        datalist[split].append({"image": name, "label": [0, 1] if blob else [1, 0]})
    path = out / "datalist.json"
    write_text_atomic(path, json.dumps(datalist, indent=2) + "\n")
    return path
