"""The Clara transform catalogue: Clara 3.x names, TLT 1.x names as aliases, all dict in / dict out.

Importing this package registers every transform with `clara_tlt.factory.registry` (kind "transform").
`set_random_state(transforms, seed)` seeds every random transform of a list for reproducible runs. Images are
read and written through `clara_tlt.io` (`clara_tlt.io.arrays` hands them over the way MONAI indexes them).
Layer: the catalogue (tests/layers.py), beside learning, metrics, inferers, data and writers.
"""

from clara_tlt.transforms import (
    augment,
    crop,
    crop_fixed,
    crop_roi,
    extreme_points,
    intensity,
    io,
    labels,
    layout,
    spatial,
)
from clara_tlt.transforms import catalogue as catalogue  # registers the names of issue 13
from clara_tlt.transforms.base import ClaraTransform, RandomTransform, apply_chain, set_random_state

__all__ = [
    "ClaraTransform",
    "RandomTransform",
    "apply_chain",
    "augment",
    "crop",
    "crop_fixed",
    "crop_roi",
    "extreme_points",
    "intensity",
    "io",
    "labels",
    "layout",
    "set_random_state",
    "spatial",
]
