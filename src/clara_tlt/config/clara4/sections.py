"""The slots of a Clara 4.x config and the kind of component each holds (the `kind` modernise takes).

`config_train.json` holds them in its `train` and `validate` sections; `config_validation.json` and
`config_inference.json` at their top level. Every other top-level key is a global variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# Slot → component kind (renames.KINDS), in the order a 4.x config builds them: the network first (the
# optimizer takes its parameters), the engine last (it takes the rest).
CLARA4_SLOTS: Mapping[str, str] = MappingProxyType(
    {
        "model": "network",
        "loss": "loss",
        "optimizer": "optimizer",
        "lr_scheduler": "lr_scheduler",
        "pre_transforms": "transform",
        "dataset": "dataset",
        "dataloader": "dataloader",
        "inferer": "inferer",
        "post_transforms": "transform",
        "key_metric": "metric",
        "additional_metrics": "metric",
        "metrics": "metric",
        "handlers": "handler",
        "trainer": "engine",
        "evaluator": "engine",
    }
)
# Slots holding a list of components; the others hold one.
CLARA4_LIST_SLOTS = frozenset(
    {"pre_transforms", "post_transforms", "additional_metrics", "metrics", "handlers"}
)
# Keys of a component spec beside `name`/`path` and `args` that 4.x configs write: read by the engine, never
# passed to the class.
SPEC_KEYS = frozenset(
    {
        "disabled",
        "rank",
        "log_label",
        "is_key_metric",
        "data_list_file_path",
        "data_file_base_dir",
        "data_list_key",
    }
)
