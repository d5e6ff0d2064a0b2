"""Training handlers (engines layer): each reacts to a few of the trainer's events (clara_tlt.engines.trainer).

Two kinds, one package: the built-in handlers the trainer adds itself (exported here: checkpoints, progress,
stop on signal, TensorBoard), and in `catalogue` the handlers a config names in its `handlers` slot
(`StatsHandler`, `EarlyStop`), registered for the factory.
"""

from clara_tlt.engines.handlers.checkpoint import CheckpointSaver
from clara_tlt.engines.handlers.progress import Progress
from clara_tlt.engines.handlers.signals import StopOnSignal
from clara_tlt.engines.handlers.tensorboard import TensorBoard

__all__ = ["CheckpointSaver", "Progress", "StopOnSignal", "TensorBoard"]
