"""An MMAR whose custom/ folder holds docs/byoc.md's examples, and helpers to read those examples."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import REPO
from tests.engines.conftest import train_data  # noqa: F401  (the tiny training data, shared with engines/)


def docs_block(marker: str) -> str:
    """The first Python block after `<!-- marker -->` in docs/byoc.md."""
    text = (REPO / "docs" / "byoc.md").read_text()
    found = re.search(rf"<!-- {marker} -->\s*```python\n(.*?)```", text, re.DOTALL)
    assert found, f"docs/byoc.md has no {marker} block"
    return found.group(1)


def write_custom(mmar: Path, module: str, source: str) -> Path:
    """`source` as `<mmar>/custom/<module>.py` (module names differ per test: Python caches imported modules)."""
    path = mmar / "custom" / f"{module}.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    return path
