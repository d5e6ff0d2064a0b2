"""Clara 4.x config values that are more than data: `"@name"` references, `"#…"` expressions and
`"lambda x: …"` strings. Each is parsed with `ast` and checked against an allow-list before anything runs;
a small interpreter then evaluates it. User text never reaches eval, exec or compile.

    resolve_value({"params": "#@model.parameters()", "lr": 1e-4}, {"model": net}, file=F, key_path="train.optimizer.args")
    → {"params": <generator of net's parameters>, "lr": 0.0001}
    resolve_value("lambda x: (x['pred'], x['label'])", {}, file=F, key_path=K)(batch) → (batch["pred"], batch["label"])
"""

from __future__ import annotations

import ast
import importlib
import inspect
import io
import itertools
import re
import tokenize
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any, NoReturn

from clara_tlt.config.clara4.lambdas import parse_lambda
from clara_tlt.config.clara4.refusal import Where, refuse
from clara_tlt.config.keypath import child
from clara_tlt.config.suggest import did_you_mean
from clara_tlt.errors import ConfigError

REFERENCE, EXPRESSION = "@", "#"
LAMBDA = re.compile(r"\s*lambda\b")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
PLACEHOLDER = "clara4_ref_"  # stands for `@name` inside a parsed expression; users cannot write names so
# Functions a `#` expression may call with literal arguments (imported when first called). Nothing else is
# reachable by name: not the modules they live in, not builtins.
REGISTERED_FUNCTIONS = (
    "monai.handlers.from_engine",
    "monai.handlers.stopping_fn_from_loss",
    "monai.handlers.stopping_fn_from_metric",
)
# What an expression's tree may hold at all; the interpreter then checks the shapes.
EXPRESSION_NODES = (
    ast.Expression,
    ast.Call,
    ast.Attribute,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.List,
    ast.Tuple,
    ast.Dict,
    ast.UnaryOp,
    ast.USub,
    ast.UAdd,
    ast.keyword,
)


def references_in(value: Any) -> set[str]:
    """The component names a value refers to: `"@model"` → {"model"}, `"#@model.parameters()"` → {"model"}."""
    if isinstance(value, Mapping):
        return set().union(*(references_in(item) for item in value.values()))
    if isinstance(value, (list, tuple)):
        return set().union(*(references_in(item) for item in value))
    if not isinstance(value, str):
        return set()
    if value.startswith(REFERENCE):
        return {value[1:]}
    if value.startswith(EXPRESSION):
        try:
            return set(_substitute_references(value[1:])[1].values())
        except (tokenize.TokenError, SyntaxError):
            return set(re.findall(r"@([A-Za-z_][A-Za-z0-9_]*)", value))
    return set()


def resolve_value(value: Any, objects: Mapping[str, Any], *, file: str, key_path: str) -> Any:
    """`value` with `"@name"` replaced by objects[name], `#` expressions evaluated and lambda strings made
    callables, in lists and dicts too; any other value as it is. A bad one is a `ConfigError` (exit 3)."""
    if isinstance(value, Mapping):
        return {
            key: resolve_value(item, objects, file=file, key_path=child(key_path, str(key)))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            resolve_value(item, objects, file=file, key_path=child(key_path, index))
            for index, item in enumerate(value)
        ]
    if not isinstance(value, str):
        return value
    where = Where(file=file, key_path=key_path, text=value)
    if value.startswith(REFERENCE):
        return _referenced(value[1:], objects, where)
    if value.startswith(EXPRESSION):
        return _expression(value[1:], objects, where)
    if LAMBDA.match(value):
        return parse_lambda(value, where)
    return value


def _referenced(name: str, objects: Mapping[str, Any], where: Where) -> Any:
    """objects[name] for `"@name"`; an unknown or malformed name is a `ConfigError` with did-you-mean."""
    if not NAME.match(name):
        refuse(
            where, f"@{name}", "a reference is '@' and a component's name alone; call or read on it with '#@'"
        )
    if name not in objects:
        known = ", ".join(sorted(objects)) or "none"
        raise ConfigError(
            f"'@{name}' names no component of this config{did_you_mean(name, objects) or '.'} Components: {known}",
            file=where.file,
            key_path=where.key_path,
        )
    return objects[name]


@dataclass(frozen=True)
class _Expression:
    """One parsed `#` expression: its tree and the references its placeholders stand for."""

    tree: ast.Expression
    source: str  # the text parsed, placeholders in it
    references: Mapping[str, Any]  # placeholder → the object
    where: Where

    def part(self, node: ast.AST) -> str:
        """The user's text of `node` (with `@name` back in place of the placeholders)."""
        segment = ast.get_source_segment(self.source, node) or ast.dump(node)
        return re.sub(rf"\b{PLACEHOLDER}(\w+)", r"@\1", segment)

    def refuse(self, node: ast.AST, why: str) -> NoReturn:
        refuse(self.where, self.part(node), why)


def _expression(text: str, objects: Mapping[str, Any], where: Where) -> Any:
    """The value of `#text`: a call/attribute chain on a reference or a registered function's call."""
    try:
        source, placeholders = _substitute_references(text)
        tree = ast.parse(source.strip(), mode="eval")
    except (tokenize.TokenError, SyntaxError) as error:
        raise ConfigError(
            f"'{where.text}' is not an expression ({error.args[0]}); write e.g. \"#@model.parameters()\"",
            file=where.file,
            key_path=where.key_path,
        ) from None
    references = {ph: _referenced(name, objects, where) for ph, name in placeholders.items()}
    expression = _Expression(tree, source.strip(), references, where)
    _check_nodes(expression)
    return _evaluate(expression.tree.body, expression)


def _substitute_references(text: str) -> tuple[str, dict[str, str]]:
    """`text` with each `@name` token pair replaced by a placeholder name, and placeholder → name."""
    lines = text.splitlines(keepends=True) or [""]
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    spans: list[tuple[int, int, str]] = []
    for at, word in itertools.pairwise(tokens):
        if (
            at.string == "@"
            and at.type == tokenize.OP
            and word.type == tokenize.NAME
            and at.end == word.start
        ):
            start = offsets[at.start[0] - 1] + at.start[1]
            spans.append((start, offsets[word.end[0] - 1] + word.end[1], word.string))
    pieces: list[str] = []
    placeholders: dict[str, str] = {}
    last = 0
    for start, end, name in spans:
        pieces += [text[last:start], PLACEHOLDER + name]
        placeholders[PLACEHOLDER + name] = name
        last = end
    return "".join([*pieces, text[last:]]), placeholders


def _check_nodes(expression: _Expression) -> None:
    """Refuse, before anything runs, any node outside the allow-list and any name with an underscore first."""
    for node in ast.walk(expression.tree):
        if not isinstance(node, EXPRESSION_NODES):
            expression.refuse(node, f"{type(node).__name__} is not allowed in a config expression")
        name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
        if name.startswith("_"):
            refuse(expression.where, name, "names and attributes starting with '_' are not allowed")
        if isinstance(node, ast.Name) and name.startswith(PLACEHOLDER) and name not in expression.references:
            expression.refuse(node, f"names starting with '{PLACEHOLDER}' are reserved")
        if isinstance(node, ast.keyword) and node.arg is None:
            expression.refuse(node, "'**' arguments are not allowed")


def _evaluate(node: ast.expr, expression: _Expression) -> Any:
    """A reference, an attribute of a chain on one, or an allowed call."""
    if isinstance(node, ast.Name) and node.id in expression.references:
        return expression.references[node.id]
    if isinstance(node, ast.Call):
        return _call(node, expression)
    if isinstance(node, ast.Attribute) and _dotted_name(node) not in REGISTERED_FUNCTIONS:
        base = _evaluate(node.value, expression)
        try:
            value = getattr(base, node.attr)
        except AttributeError:
            expression.refuse(node, f"{type(base).__name__} has no attribute '{node.attr}'")
        if isinstance(value, ModuleType):
            expression.refuse(node, "a module is not reachable from a config expression")
        return value
    expression.refuse(
        node, "only '@name', attributes and calls on it, and the registered functions may appear here"
    )


def _call(node: ast.Call, expression: _Expression) -> Any:
    """Call a registered function or a method of a referenced object, with literal arguments."""
    dotted = _dotted_name(node.func)
    if dotted in REGISTERED_FUNCTIONS:
        module, _, name = dotted.rpartition(".")
        function = getattr(importlib.import_module(module), name)
    elif "." in dotted and dotted.partition(".")[0] not in expression.references:
        expression.refuse(
            node.func, f"not a registered function; those are {', '.join(REGISTERED_FUNCTIONS)}"
        )
    else:
        function = _evaluate(node.func, expression)
        if not (inspect.ismethod(function) or _is_builtin_method(function)):
            expression.refuse(
                node.func, "only methods of '@name' objects and the registered functions may be called"
            )
    args = [_literal(arg, expression) for arg in node.args]
    kwargs = {kw.arg: _literal(kw.value, expression) for kw in node.keywords if kw.arg}
    try:
        return function(*args, **kwargs)
    except Exception as error:  # the config's call failed: say where, not a traceback
        raise ConfigError(
            f"'{expression.where.text}' failed: {type(error).__name__}: {error}",
            file=expression.where.file,
            key_path=expression.where.key_path,
        ) from error


def _is_builtin_method(function: Any) -> bool:
    """A method of a built-in type bound to an object (`list.copy`), not a built-in function of a module."""
    owner = getattr(function, "__self__", None)
    return inspect.isbuiltin(function) and owner is not None and not isinstance(owner, ModuleType)


def _literal(node: ast.expr, expression: _Expression) -> Any:
    """A literal argument (numbers, strings, True/False/None, lists, tuples, dicts of them) or a bare `@name`."""
    if isinstance(node, ast.Name) and node.id in expression.references:
        return expression.references[node.id]
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_literal(item, expression) for item in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.Dict) and None not in node.keys:
        return {
            _literal(key, expression): _literal(value, expression)  # type: ignore[arg-type]
            for key, value in zip(node.keys, node.values, strict=True)
        }
    try:
        return ast.literal_eval(node)
    except ValueError:
        expression.refuse(node, "arguments must be literals (numbers, strings, lists, dicts) or '@name'")


def _dotted_name(node: ast.expr) -> str:
    """`monai.handlers.from_engine` for that chain of names; "" for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted_name(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""
