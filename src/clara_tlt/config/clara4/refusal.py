"""Where a Clara 4.x config value stands, and the one error for a form the grammar does not allow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

from clara_tlt.errors import ConfigError

ALLOWED_FORMS = (
    "'@name' (a component of this config); '#@name.attribute.method(literal, ...)' (attributes and method "
    'calls on a component, literal arguments); \'#monai.handlers.from_engine(["pred", "label"])\' (a '
    "registered function, literal arguments); 'lambda x: x[\"key\"]', 'lambda x: x.attribute', "
    "'lambda x: x[0][\"pred\"]', a tuple or list of those, or 'lambda x: None'"
)


@dataclass(frozen=True)
class Where:
    """The file and key path of a config value, and its text as written."""

    file: str
    key_path: str
    text: str


def refuse(where: Where, part: str, why: str) -> NoReturn:
    """A `ConfigError` naming the value, the offending part, why, and the forms a config may write."""
    raise ConfigError(
        f"'{where.text}' is refused: {why} (at '{part}'). A config value may be: {ALLOWED_FORMS}",
        file=where.file,
        key_path=where.key_path,
    )
