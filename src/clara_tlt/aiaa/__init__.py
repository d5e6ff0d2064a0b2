"""AIAA model configs, the bring-your-own inference API, the Clara Deploy operator, Triton-served inference.

Custom inference code imports its API from here (Clara AIAA's `ai4med`/`nvmidl` imports, ported):

>>> from clara_tlt.aiaa import Inference, InferenceUtils, MedicalImage, ModelConfig, TransformContext
"""

from __future__ import annotations

from clara_tlt.aiaa.api import *  # noqa: F403 -- the bring-your-own API, listed once in api.__all__
from clara_tlt.aiaa.api import __all__ as __all__
