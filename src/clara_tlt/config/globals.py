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
    # Ours: load only the checkpoint weights whose names and shapes match (fine-tuning with a new head).
    "partial_load": False,
}
