"""`"lambda x: …"` strings of Clara 4.x configs (handlers' `output_transform`, `batch_transform`) as callables.

The body may only index its argument with literal subscripts and read its attributes, or be a tuple or list
of such, or `None`: `lambda x: x["loss"]`, `lambda x: (x["pred"], x["label"])`, `lambda x: x[0]["pred"]`.
The string is parsed with `ast` and turned into a `Projection`, a picklable callable that follows the same
steps; nothing is compiled.

>>> parse_lambda("lambda x: (x['pred'], x['label'])", Where("f", "k", "…"))({"pred": 1, "label": 2})
(1, 2)
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

from clara_tlt.config.clara4.refusal import Where, refuse
from clara_tlt.errors import ConfigError

Step = tuple[str, Any]  # ("item", key) or ("attribute", name)
Path = tuple[Step, ...]


@dataclass(frozen=True)
class Projection:
    """A `lambda x: …` string as a callable: the paths it follows into its argument, packed as written."""

    source: str
    paths: tuple[Path, ...]  # empty: the lambda returns None
    packing: str  # "one", "tuple" or "list"
    where: Where

    def __call__(self, x: Any) -> Any:
        if not self.paths:
            return None
        try:
            values = [_follow(x, path) for path in self.paths]
        except (KeyError, IndexError, TypeError, AttributeError) as error:
            raise self._misfit(x, error) from error
        return values[0] if self.packing == "one" else tuple(values) if self.packing == "tuple" else values

    def _misfit(self, x: Any, error: Exception) -> ConfigError:
        """The error for a lambda that does not fit what the engine gave it, with the 4.1 fix where it applies."""
        fix = ""
        if isinstance(x, list) and any(path and isinstance(path[0][1], str) for path in self.paths):
            fix = (
                "; MONAI's engines hand handlers a list with one dict per item (decollated): write "
                'lambda x: x[0]["key"], or "#monai.handlers.from_engine(["key"])" for every item'
            )
        return ConfigError(
            f"'{self.source}' does not fit the {type(x).__name__} it was given ({type(error).__name__}: {error}){fix}",
            file=self.where.file,
            key_path=self.where.key_path,
        )

    def __repr__(self) -> str:
        return self.source


def from_engine_form(text: str, where: Where) -> str | None:
    """Clara 4.0's lambda on a batch dict (MONAI 0.5) as the `#monai.handlers.from_engine(...)` expression that
    reads MONAI's decollated output alike: `x["loss"]` → `(["loss"], first=True)` (one value, the same for every
    item), `(x["pred"], x["label"])` → `(["pred", "label"])`; None for any other lambda (left as written)."""
    try:
        projection = parse_lambda(text, where)
    except ConfigError:
        return None  # refused when the value is resolved, with the reason
    keys = [path[0][1] for path in projection.paths if len(path) == 1 and path[0][0] == "item"]
    if not keys or len(keys) != len(projection.paths) or not all(isinstance(k, str) for k in keys):
        return None
    listed = ", ".join(f'"{key}"' for key in keys)
    first = ", first=True" if projection.packing == "one" else ""
    return f"#monai.handlers.from_engine([{listed}]{first})"


def _follow(value: Any, path: Path) -> Any:
    for kind, key in path:
        value = value[key] if kind == "item" else getattr(value, key)
    return value


def parse_lambda(text: str, where: Where) -> Projection:
    """The `Projection` a lambda string stands for; any other form is a `ConfigError` naming the part."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as error:
        raise ConfigError(
            f"'{text}' is not a lambda ({error.msg}); write e.g. \"lambda x: x['pred']\"",
            file=where.file,
            key_path=where.key_path,
        ) from None
    node = tree.body
    if not isinstance(node, ast.Lambda):
        refuse(where, text, "a string starting with 'lambda' must be one lambda")
    argument = _single_argument(node, where)
    body = node.body
    if isinstance(body, ast.Constant) and body.value is None:
        return Projection(text, (), "one", where)
    if isinstance(body, (ast.Tuple, ast.List)):
        paths = tuple(_path(item, argument, where) for item in body.elts)
        return Projection(text, paths, "tuple" if isinstance(body, ast.Tuple) else "list", where)
    return Projection(text, (_path(body, argument, where),), "one", where)


def _single_argument(node: ast.Lambda, where: Where) -> str:
    """The lambda's one plain argument; defaults, `*args`, keyword-only and `**kwargs` are refused."""
    args = node.args
    plain = [*args.posonlyargs, *args.args]
    if len(plain) != 1 or args.vararg or args.kwarg or args.kwonlyargs or args.defaults:
        refuse(where, ast.unparse(args), "a config lambda takes exactly one plain argument")
    name = plain[0].arg
    if name.startswith("_"):
        refuse(where, name, "names starting with '_' are not allowed")
    return name


def _path(node: ast.expr, argument: str, where: Where) -> Path:
    """The steps of `x[...]...` / `x.attribute...`; anything else (a call, an operator, another name) refused."""
    if isinstance(node, ast.Name) and node.id == argument:
        return ()
    if isinstance(node, ast.Attribute):
        if node.attr.startswith("_"):
            refuse(where, ast.unparse(node), "attributes starting with '_' are not allowed")
        return (*_path(node.value, argument, where), ("attribute", node.attr))
    if isinstance(node, ast.Subscript):
        return (*_path(node.value, argument, where), ("item", _subscript(node, where)))
    why = f"a lambda's body may only index or read attributes of '{argument}'"
    if isinstance(node, ast.Name):
        why = f"the name '{node.id}' is not the lambda's argument '{argument}'"
    refuse(where, ast.unparse(node), why)


def _subscript(node: ast.Subscript, where: Where) -> Any:
    """A literal key: a string, an integer or a negative integer."""
    key = node.slice
    if (
        isinstance(key, ast.UnaryOp)
        and isinstance(key.op, ast.USub)
        and isinstance(key.operand, ast.Constant)
    ):
        key = key.operand
        if isinstance(key.value, int) and not isinstance(key.value, bool):
            return -key.value
    elif (
        isinstance(key, ast.Constant)
        and isinstance(key.value, (str, int))
        and not isinstance(key.value, bool)
    ):
        return key.value
    refuse(where, ast.unparse(node), "subscripts must be literal strings or integers")
