"""The house rules of src/: imports run down the layers of tests/layers.py, no circle, small rooms.

Every import counts: top-level, function-local and those under `if TYPE_CHECKING:` (the code reads as if it
could run them). Circles are checked between packages (the names of the layers table), since modules of one
package may import each other: a package A importing B while B imports A, directly or round a longer loop,
fails. `ai4med` (src/ai4med/) is the compatibility package beside clara_tlt: it may import clara_tlt, never
the other way.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import REPO
from tests.layers import LAYERS

SRC = REPO / "src"
ROOT = "clara_tlt"
LAYER_OF = {name: index for index, (_, names) in enumerate(LAYERS) for name in names}
LAYER_NAMES = [layer for layer, _ in LAYERS]
MAX_ROOT_MODULES, MAX_FUNCTION_LINES, MAX_FILE_LINES = 6, 60, 400


@dataclass(frozen=True)
class Import:
    """One import statement of a clara_tlt module: where it stands and the module it names."""

    where: str  # src-relative path:line
    source: str  # the importing package (a name of the layers table)
    target: str  # the imported module, dotted

    @property
    def target_package(self) -> str:
        return package_of(self.target)


def package_of(module: str) -> str:
    """The layers-table name of a dotted module: its package under clara_tlt, a root module, or `clara_tlt`."""
    parts = module.split(".")
    return parts[0] if parts[0] != ROOT or len(parts) == 1 else parts[1]


def module_parts(path: Path) -> list[str]:
    """`src/clara_tlt/engines/trainer.py` → `["clara_tlt", "engines", "trainer"]` (a package: its folder)."""
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def imported_modules(node: ast.Import | ast.ImportFrom, parts: list[str], is_package: bool) -> Iterator[str]:
    """The dotted modules one import statement names (relative ones resolved; `from pkg import sub` → pkg.sub)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    module = node.module or ""
    if node.level:
        base = parts if is_package else parts[:-1]
        module = ".".join([*base[: len(base) - node.level + 1], *([module] if module else [])])
    if module == ROOT:  # `from clara_tlt import engines` names the subpackage, `__version__` the root
        yield from (ROOT if alias.name.startswith("__") else f"{ROOT}.{alias.name}" for alias in node.names)
    else:
        yield module


def clara_imports() -> Iterator[Import]:
    """Every import of a clara_tlt or ai4med module by a module of src/clara_tlt."""
    for path in sorted((SRC / ROOT).rglob("*.py")):
        parts = module_parts(path)
        source = package_of(".".join(parts))
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in imported_modules(node, parts, path.name == "__init__.py"):
                    if target.split(".")[0] in (ROOT, "ai4med"):
                        yield Import(f"{path.relative_to(SRC)}:{node.lineno}", source, target)


def describe(imp: Import) -> str:
    """`clara_tlt/metrics/x.py:12 → clara_tlt.engines.y (catalogue → engines)`."""
    layers = [LAYER_OF.get(p) for p in (imp.source, imp.target_package)]
    names = " → ".join(LAYER_NAMES[i] if i is not None else "?" for i in layers)
    return f"{imp.where} → {imp.target} ({names})"


def package_circles(imports: list[Import]) -> list[list[str]]:
    """The strongly connected groups of two or more packages in the package import graph (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        if imp.source != imp.target_package:
            graph.setdefault(imp.source, set()).add(imp.target_package)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_every_package_has_a_layer() -> None:
    modules = [".".join(module_parts(path)) for path in (SRC / ROOT).rglob("*.py")]
    missing = sorted({package_of(module) for module in modules} - set(LAYER_OF))
    assert not missing, (
        f"not in the layers table (tests/layers.py): {', '.join(missing)}; give each its layer"
    )


def test_no_import_runs_up_a_layer() -> None:
    upward = [
        describe(imp)
        for imp in clara_imports()
        if imp.target_package not in LAYER_OF or LAYER_OF.get(imp.source, -1) < LAYER_OF[imp.target_package]
    ]
    assert not upward, "imports that run up a layer (tests/layers.py):\n  " + "\n  ".join(upward)


def test_no_import_circle_between_packages() -> None:
    imports = list(clara_imports())
    circles = [
        f"{' ↔ '.join(group)}:\n    "
        + "\n    ".join(
            describe(imp)
            for imp in imports
            if imp.source != imp.target_package and {imp.source, imp.target_package} <= set(group)
        )
        for group in package_circles(imports)
    ]
    assert not circles, "import circles between packages:\n  " + "\n  ".join(circles)


def test_at_most_six_modules_at_the_package_root() -> None:
    root = sorted(p.name for p in (SRC / ROOT).glob("*.py"))
    assert len(root) <= MAX_ROOT_MODULES, f"{len(root)} modules at src/clara_tlt/: {', '.join(root)}"


def test_functions_and_files_stay_short() -> None:
    long = []
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text()
        if len(text.splitlines()) > MAX_FILE_LINES:
            long.append(f"{path.relative_to(SRC)}: {len(text.splitlines())} lines (file)")
        for node in ast.walk(ast.parse(text, str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name}: {length} lines")
    assert not long, (
        f"over {MAX_FUNCTION_LINES} lines a function or {MAX_FILE_LINES} a file; split where the meaning "
        "splits:\n  " + "\n  ".join(long)
    )


def test_the_readme_layout_quotes_every_layer() -> None:
    layout = (REPO / "README.md").read_text().partition("## Layout")[2].partition("\n## ")[0]
    quoted = {name for _, names in LAYERS for name in names if name not in (ROOT, "__main__")}
    missing = sorted(name for name in quoted if f"`{name}" not in layout)
    assert not missing, f"README.md's Layout paragraph does not name {', '.join(missing)} (tests/layers.py)"
