"""Clara AutoML's annotations in a training config: `search` sections on components (and the `apply` that uses
a choice), and `*_search` globals such as `lr_search`. A plain run trains with the values as written, as Clara's
own train command did; the annotations are accepted and listed (`--dry-run`), the search itself is not run.
"""

from __future__ import annotations

from typing import Any

from clara_tlt.config.component_spec import AUTOML_KEYS
from clara_tlt.config.keypath import child

SEARCH_GLOBAL_SUFFIX = "_search"  # `"lr_search": [0.0001, 0.001]`: the learning rate's search range


def search_space(data: dict[str, Any]) -> list[str]:
    """The key paths of every AutoML annotation in a resolved config, in config order.

    `search_space({"lr_search": [1e-4, 1e-3], "train": {"loss": {"name": "Dice", "search": []}}})`
    → `["lr_search", "train.loss.search"]`.
    """
    found = [name for name in data if name.endswith(SEARCH_GLOBAL_SUFFIX)]
    for name, value in data.items():
        if not name.endswith(SEARCH_GLOBAL_SUFFIX):
            found += _annotations(value, name)
    return found


def _annotations(value: Any, key_path: str) -> list[str]:
    """`search`/`apply` keys of the components under `value` (a component is a dict with `name` or `path`)."""
    if isinstance(value, list):
        return [
            path for index, item in enumerate(value) for path in _annotations(item, child(key_path, index))
        ]
    if not isinstance(value, dict):
        return []
    is_component = "name" in value or "path" in value
    found = []
    for key, item in value.items():
        if is_component and key in AUTOML_KEYS:
            found.append(child(key_path, key))
        elif key != "args":
            found += _annotations(item, child(key_path, key))
    return found
