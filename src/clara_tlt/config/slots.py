"""The one table of component slots and sections of a Clara config, read by the loader and the workflow builder.

A slot is a key whose value is a component spec or a list of them (`"loss": {"name": "Dice"}`); everything else
at the top level of a config is a global variable. The order of `SLOT_KINDS` is the build order: the network
first, so the optimizer gets its parameters, each image pipeline its transforms, the lr policy its optimizer and
the pipeline's batches per epoch.
Clara 3.1's `batch_transforms` (applied to whole batches, e.g. `MergeBatchDims`) and `handlers` (e.g.
`StatsHandler`) are slots too, never global variables.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Slot name → component kind (clara_tlt.factory.registry), in build order.
SLOT_KINDS: dict[str, str] = {
    "net_config": "network",
    "model": "network",
    "loss": "loss",
    "optimizer": "optimizer",
    "pre_transforms": "transform",
    "batch_transforms": "transform",
    "label_transforms": "transform",
    "post_transforms": "transform",
    "aux_ops": "metric",
    "metrics": "metric",
    "val_metrics": "metric",
    "inferer": "inferer",
    "inference": "inferer",
    "model_loader": "model_loader",
    "writers": "writer",
    "writer": "writer",
    "image_pipeline": "image_pipeline",
    "lr_policy": "lr_policy",
    "handlers": "handler",
}

# Slots that hold a list of components; every other slot holds one (a list of one is accepted).
LIST_SLOTS = frozenset(
    {
        "pre_transforms",
        "batch_transforms",
        "label_transforms",
        "post_transforms",
        "aux_ops",
        "metrics",
        "val_metrics",
        "writers",
        "handlers",
    }
)

# Sections that hold slots of their own; "" is the top level (validation configs, the EA form).
SECTIONS: tuple[str, ...] = ("", "train", "validate")
SECTION_KEYS = frozenset(s for s in SECTIONS if s)

# The slots that hold the network, and where a config's network is looked for, first found wins: Clara 3.x's
# `train.model`, the TLT 1.x EA form's top-level `net_config`, a validation config's top-level `model`.
NETWORK_SLOTS: tuple[str, ...] = tuple(slot for slot, kind in SLOT_KINDS.items() if kind == "network")
NETWORK_KEYS: tuple[str, ...] = ("train.model", *NETWORK_SLOTS)


def network_spec(config: Any) -> tuple[dict[str, Any] | None, str]:
    """The network spec of a (resolved) config and its key path: the first of NETWORK_KEYS holding a mapping,
    else `(None, "train.model")`. Example: `network_spec({"net_config": {"name": "SegAhnet"}})[1] == "net_config"`.
    """
    for key in NETWORK_KEYS:
        value = config
        for part in key.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        if isinstance(value, Mapping):
            return dict(value), key
    return None, NETWORK_KEYS[0]
