"""Clara's `ai4med.components.transforms.transformer`: a transform of a `TransformContext`."""

from clara_tlt.byoc.components import Transformer

__all__ = ["Transformer"]
