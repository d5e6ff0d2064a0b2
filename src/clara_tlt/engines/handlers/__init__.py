"""Training handlers: each reacts to a few of the trainer's events (clara_tlt.engines.trainer.Handler)."""

from clara_tlt.engines.handlers.checkpoint import CheckpointSaver
from clara_tlt.engines.handlers.lr import LrStep
from clara_tlt.engines.handlers.progress import Progress
from clara_tlt.engines.handlers.signals import StopOnSignal
from clara_tlt.engines.handlers.tensorboard import TensorBoard
from clara_tlt.engines.handlers.validation import Validation

__all__ = ["CheckpointSaver", "LrStep", "Progress", "StopOnSignal", "TensorBoard", "Validation"]
