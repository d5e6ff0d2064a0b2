"""Clara's `ai4med.utils.dtype_utils`: a config's dtype name as a NumPy type."""

from clara_tlt.byoc.components import str_to_dtype

__all__ = ["str_to_dtype"]
