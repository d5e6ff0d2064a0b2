"""The library classes a component kind reaches by exact class name (registry.FALLBACKS): what
`clara-tlt components KIND` lists for the Clara 4.x kinds, which register no names of their own."""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass

from clara_tlt.factory.registry import FALLBACKS

# Where a fallback module holds more than the kind (monai.data's readers beside its datasets), the base class
# of what the listing shows; a config may still name any class of the module.
BASES = {
    "dataset": ("torch.utils.data", "Dataset"),
    "dataloader": ("torch.utils.data", "DataLoader"),
    "ignite_metric": ("ignite.metrics", "Metric"),
    "engine": ("ignite.engine", "Engine"),
}


@dataclass(frozen=True)
class LibraryClass:
    """A class a config names by `name` alone, and the module it is taken from."""

    kind: str
    name: str
    module: str


def library_classes(kind: str) -> list[LibraryClass]:
    """The public classes of `kind`'s fallback modules (the first module wins a name), sorted by name."""
    base = getattr(importlib.import_module(BASES[kind][0]), BASES[kind][1]) if kind in BASES else object
    found: dict[str, LibraryClass] = {}
    for module_name in FALLBACKS[kind]:
        module = importlib.import_module(module_name)
        for name in dir(module):
            candidate = getattr(module, name)
            if name.startswith("_") or name in found or not inspect.isclass(candidate):
                continue
            if issubclass(candidate, base):
                found[name] = LibraryClass(kind, name, module_name)
    return sorted(found.values(), key=lambda c: c.name)
