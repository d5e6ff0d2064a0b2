"""The Clara transform catalogue: Clara 3.x names, TLT 1.x names as aliases, all dict in / dict out.

Importing this package registers every transform with `clara_tlt.components` (kind "transform").
`set_random_state(transforms, seed)` seeds every random transform of a list for reproducible runs.
"""

from clara_tlt.transforms import crop, extreme_points, intensity, io, layout, spatial
from clara_tlt.transforms.base import ClaraTransform, RandomTransform, apply_chain, set_random_state
from clara_tlt.transforms.io import read_image

__all__ = [
    "ClaraTransform",
    "RandomTransform",
    "apply_chain",
    "crop",
    "extreme_points",
    "intensity",
    "io",
    "layout",
    "read_image",
    "set_random_state",
    "spatial",
]
