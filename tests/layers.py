"""The layers of clara_tlt, from the ground up: the one table that tests/test_layers.py checks and the README quotes.

A name is a package under `src/clara_tlt/` or a module at its root (`errors` is `clara_tlt/errors.py`;
`clara_tlt` is the package root itself). A module may import from its own layer and the layers below, never
from a layer above; packages of one layer may import each other as long as no circle forms.
"""

from __future__ import annotations

LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ground", ("clara_tlt", "errors", "atomic", "written")),
    ("io", ("io",)),
    ("config", ("config",)),
    ("factory", ("factory",)),
    (
        "catalogue",
        ("transforms", "learning", "metrics", "inferers", "data", "writers", "formats", "byoc", "synthetic"),
    ),
    ("engines", ("engines",)),
    ("delivery", ("export", "aiaa", "hub")),
    ("cli", ("cli", "__main__")),
)
