"""Clara's `ai4med.components.models.model`: `get_predictions(inputs, is_training, build_ctx=None)`, in PyTorch."""

from clara_tlt.byoc.components import Model

__all__ = ["Model"]
