"""The Clara Train 4.x config grammar (MONAI-based MMARs): recognise a 4.x config by its structure, read its
`@` references, `#` expressions and lambda strings through an allow-list, and bring the MONAI 0.5–0.8 names
it writes to MONAI 1.6's. docs/clara4.md describes the grammar; the engine is clara_tlt.engines.clara4.

Layer: config (tests/layers.py); MONAI is imported only for the registered functions a config calls.
"""

from clara_tlt.config.clara4.detect import is_clara4
from clara_tlt.config.clara4.expressions import REGISTERED_FUNCTIONS, references_in, resolve_value
from clara_tlt.config.clara4.modernise import modernise
from clara_tlt.config.clara4.renames import CHANGES, KINDS, Change
from clara_tlt.config.clara4.sections import CLARA4_LIST_SLOTS, CLARA4_SLOTS, SPEC_KEYS

__all__ = [
    "CHANGES",
    "CLARA4_LIST_SLOTS",
    "CLARA4_SLOTS",
    "KINDS",
    "REGISTERED_FUNCTIONS",
    "SPEC_KEYS",
    "Change",
    "is_clara4",
    "modernise",
    "references_in",
    "resolve_value",
]
