"""Clara config grammar: JSON + environment.json + global variables + `{NAME}` + `--set` + `disabled`; the MMAR's
code folders (mmar.py); AIAA and Deploy operator configs translated into a validation config's sections
(translate.py).

Layer: config, above errors/atomic and io (tests/layers.py); it imports nothing from the factory up.
"""

from clara_tlt.config.jsonfile import read_json
from clara_tlt.config.loader import ResolvedConfig, load_config
from clara_tlt.config.overrides import Override, parse_overrides

__all__ = ["Override", "ResolvedConfig", "load_config", "parse_overrides", "read_json"]
