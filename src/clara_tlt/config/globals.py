"""Global variables the engines read, with their defaults: `--set` may give them even where a config has not.

Clara 3.x configs write them at the top level (`"epochs": 1250`); a config that leaves one out gets the default.
"""

from __future__ import annotations

from typing import Any

ENGINE_GLOBALS: dict[str, Any] = {
    "epochs": 1,
    "num_training_epoch_per_valid": 1,
    "learning_rate": None,
    "multi_gpu": False,
    "determinism": None,
    "use_amp": False,
    "dynamic_input_shape": False,
    # Training summary (TensorBoard loss and learning rate) every N iterations; 0: once per epoch.
    "train_summary_recording_interval": 1,
    # TF32 matrix products on Ampere or newer GPUs; None leaves PyTorch's defaults.
    "use_tf32": None,
    # TensorFlow's XLA compiler: no counterpart here (accepted, said in the log).
    "use_xla": False,
    # Ours: load only the checkpoint weights whose names and shapes match (fine-tuning with a new head).
    "partial_load": False,
}
