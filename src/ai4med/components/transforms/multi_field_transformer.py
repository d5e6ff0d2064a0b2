"""Clara's `ai4med.components.transforms.multi_field_transformer`: a transform of each of `fields`."""

from clara_tlt.byoc.components import MultiFieldTransformer

__all__ = ["MultiFieldTransformer"]
