"""A component's config arguments checked against its factory's signature before the factory is called.

Unknown names get did-you-mean and the accepted names; missing required ones are listed; values are checked
against the factory's type hints where those are simple (int, float, bool, str, None, lists of those and unions
of them; an int is a valid float, a bool is not an int). Other hints are left to the factory.

A factory that forwards `**kwargs` accepts the keyword-only arguments of where they go (`signature_of`): one of
our classes forwards to its base's `__init__` (a metric passes the reporting arguments on to `ClaraMetric`),
a function marked `@forwards(helper)` to `helper`; those arguments are checked as that base declares them.

    check_arguments(factory, args, config_args=spec.args, label="network 'SegAhnet'", file=..., key_path=...)
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from clara_tlt.config.keypath import child
from clara_tlt.config.suggest import did_you_mean
from clara_tlt.errors import ConfigError
from clara_tlt.factory.errors import is_ours

F = typing.TypeVar("F", bound=Callable[..., Any])

# A simple type → (the words for one value, the words for several)
SCALARS: dict[type, tuple[str, str]] = {
    bool: ("true or false", "true/false values"),
    int: ("an integer", "integers"),
    float: ("a number", "numbers"),
    str: ("a string", "strings"),
}
LISTS = (list, tuple, Sequence)


@dataclass(frozen=True)
class Expected:
    """What a simple type hint accepts: `test(value)`, and `words` for the message ("an integer or null")."""

    test: Callable[[Any], bool]
    words: str


def check_arguments(
    factory: Callable[..., Any],
    args: Mapping[str, Any],
    *,
    config_args: Mapping[str, Any],
    label: str,
    file: str,
    key_path: str,
) -> None:
    """Raise `ConfigError` for an argument `factory` does not take, a required one missing from `args`, or a
    value of `config_args` (what the user wrote; injected runtime objects are not checked) of the wrong type."""
    signature = signature_of(factory)
    if signature is None:
        return
    args_path = child(key_path, "args")
    parameters = signature.parameters
    named = [n for n, p in parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        for name in args:
            if name not in named:
                raise ConfigError(
                    f"{label} has no argument '{name}'{did_you_mean(name, named) or '.'} "
                    f"Accepted arguments: {', '.join(named) or 'none'}",
                    file=file,
                    key_path=child(args_path, name),
                )
    missing = [n for n in named if parameters[n].default is inspect.Parameter.empty and n not in args]
    if missing:
        raise ConfigError(
            f'{label} needs argument(s) {", ".join(missing)}; add them under "args"',
            file=file,
            key_path=args_path,
        )
    hints = _type_hints(factory, signature)
    for name, value in config_args.items():
        expected = expected_type(hints[name]) if name in hints else None
        if expected is not None and not expected.test(value):
            raise ConfigError(
                f"{name} must be {expected.words}, got {value!r}", file=file, key_path=child(args_path, name)
            )


def accepted_names(factory: Callable[..., Any]) -> frozenset[str] | None:
    """The argument names `factory` takes by keyword; None when it takes any (`**kwargs`) or has no signature."""
    signature = signature_of(factory)
    if signature is None or any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
        return None
    return frozenset(
        n for n, p in signature.parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    )


def forwards(base: Callable[..., Any]) -> Callable[[F], F]:
    """Decorator: the function's `**kwargs` go to `base`, so it takes `base`'s keyword-only arguments too."""

    def mark(function: F) -> F:
        function.forwards_to = base  # type: ignore[attr-defined]
        return function

    return mark


def signature_of(factory: Callable[..., Any], *, evaluated: bool = False) -> inspect.Signature | None:
    """`factory`'s signature, its `**kwargs` replaced by the keyword-only arguments of where they are forwarded
    (our class: its base's `__init__`; a function: its `@forwards` target), down the chain while each forwards;
    None without a signature. Annotations are evaluated in their modules where forwarded or `evaluated`."""
    signature = _signature(factory, evaluated=evaluated)
    if signature is None or _forwarded_to(factory, signature) is None:
        return signature
    return _expanded(factory)


def _expanded(factory: Callable[..., Any]) -> inspect.Signature:
    own = _signature(factory, evaluated=True)
    assert own is not None  # signature_of had one
    base = _forwarded_to(factory, own)
    inner = None if base is None or _signature(base) is None else _expanded(base)
    if inner is None:
        return own
    kept = [p for p in own.parameters.values() if p.kind is not p.VAR_KEYWORD]
    taken = {p.name for p in kept}
    passed = [p for p in inner.parameters.values() if p.kind is p.KEYWORD_ONLY and p.name not in taken]
    still_open = [p for p in inner.parameters.values() if p.kind is p.VAR_KEYWORD]
    return own.replace(parameters=[*kept, *passed, *still_open])


def _forwarded_to(factory: Callable[..., Any], signature: inspect.Signature) -> Callable[..., Any] | None:
    """Where `factory`'s `**kwargs` go: None when it has none or when that is not known (a library's class)."""
    if not any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
        return None
    if not isinstance(factory, type):
        return getattr(factory, "forwards_to", None)
    if not is_ours(factory.__module__):
        return None
    mro = factory.__mro__
    definer = next(i for i, cls in enumerate(mro) if "__init__" in vars(cls))
    return mro[definer + 1] if definer + 1 < len(mro) - 1 else None  # never `object`


def expected_type(hint: Any) -> Expected | None:
    """What `hint` accepts, or None when it is not simple (then the value is not checked)."""
    if hint is type(None):
        return Expected(lambda value: value is None, "null")
    if isinstance(hint, type) and hint in SCALARS:
        return Expected(lambda value: _is_scalar(value, hint), SCALARS[hint][0])
    origin, members = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        parts = [expected_type(member) for member in members]
        if any(part is None for part in parts):
            return None
        known = [part for part in parts if part is not None]
        return Expected(lambda value: any(p.test(value) for p in known), " or ".join(p.words for p in known))
    return _expected_list(origin, members)


def _expected_list(origin: Any, members: tuple[Any, ...]) -> Expected | None:
    """`list[X]`, `Sequence[X]` or `tuple[X, ...]` of a scalar X; a string is not a list of strings here."""
    if origin not in LISTS:
        return None
    if origin is tuple and not (len(members) == 2 and members[1] is Ellipsis):
        return None
    if origin is not tuple and len(members) != 1:
        return None
    item = members[0]
    if not (isinstance(item, type) and item in SCALARS):
        return None
    return Expected(
        lambda value: isinstance(value, (list, tuple)) and all(_is_scalar(v, item) for v in value),
        f"a list of {SCALARS[item][1]}",
    )


def _is_scalar(value: Any, kind: type) -> bool:
    if kind is bool or isinstance(value, bool):  # JSON true is no integer, 1 is no boolean
        return kind is bool and isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float))
    return isinstance(value, kind)


def _signature(factory: Callable[..., Any], *, evaluated: bool = False) -> inspect.Signature | None:
    """The signature, with its annotations evaluated in their module when `evaluated` and they can be; None
    when there is none (some builtins and C extensions)."""
    try:
        return inspect.signature(factory, eval_str=evaluated)
    except Exception:  # evaluating: a name imported only for type checkers; else no signature
        return _signature(factory) if evaluated else None


def _type_hints(factory: Callable[..., Any], signature: inspect.Signature) -> dict[str, Any]:
    """The parameter types: those of the signature, with annotations written as strings evaluated in the module
    that wrote them (a dataclass's fields, inherited ones included, each in its own module).

    An annotation that cannot be evaluated (a name imported only for type checkers) leaves types unchecked.
    """
    target: Any = factory
    if isinstance(factory, type) and not dataclasses.is_dataclass(factory):
        target = target.__init__
    try:
        hints = typing.get_type_hints(target)
    except (NameError, AttributeError, TypeError):
        hints = {}
    for name, parameter in signature.parameters.items():  # a `__signature__` given with real types wins
        if parameter.annotation is not parameter.empty and not isinstance(parameter.annotation, str):
            hints[name] = parameter.annotation
    return hints
