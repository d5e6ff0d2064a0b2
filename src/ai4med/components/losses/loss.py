"""Clara's `ai4med.components.losses.loss`: `get_loss(predictions, targets, build_ctx=None)`, in PyTorch."""

from clara_tlt.byoc.components import Loss

__all__ = ["Loss"]
