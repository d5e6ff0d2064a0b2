"""Tell a Clara 4.x config (MONAI-based) from a 3.x one by its structure, never by component names: 3.x
configs may name MONAI transforms such as `LoadImaged` too.

A 4.x config has an engine section (`trainer` in `train`, `evaluator` in `validate`, or either at the top
level of `config_validation.json` / `config_inference.json`), or components whose arguments refer to other
components (`"@model"`) or are expressions (`"#@model.parameters()"`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from clara_tlt.config.clara4.expressions import EXPRESSION, REFERENCE
from clara_tlt.config.component_spec import AUTOML_KEYS

SECTIONS = ("train", "validate")  # config_train.json's sections; the other files hold theirs at the top
ENGINES = ("trainer", "evaluator")  # a MONAI engine built from the config: 3.x configs have none


def is_clara4(config: Mapping[str, Any]) -> bool:
    """True when the config is written for Clara Train 4.x (MONAI engines, `@` references, `#` expressions)."""
    places = [config, *(config[name] for name in SECTIONS if isinstance(config.get(name), Mapping))]
    if any(isinstance(place.get(engine), Mapping) for place in places for engine in ENGINES):
        return True
    return any(_refers(spec["args"]) for spec in _specs(config))


def _specs(value: Any) -> Iterator[Mapping[str, Any]]:
    """Every mapping under `value` (itself included) that has `args`."""
    if isinstance(value, Mapping):
        if "args" in value:
            yield value
        for key, item in value.items():
            if key not in AUTOML_KEYS:  # Clara 3.1 AutoML's `"args": ["@disabled"]` names an attribute
                yield from _specs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _specs(item)


def _refers(args: Any) -> bool:
    """Whether any string in `args` is a reference or an expression."""
    if isinstance(args, Mapping):
        return any(_refers(item) for item in args.values())
    if isinstance(args, list):
        return any(_refers(item) for item in args)
    return isinstance(args, str) and args.startswith((REFERENCE, EXPRESSION))
