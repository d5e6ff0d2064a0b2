"""What every Clara transform shares: dict in / dict out, registration with the field-name synonyms mapped
once, channel layout, seeding.

A sample is a dict whose image fields are MONAI `MetaTensor`s (affine in `.affine`, file name and layout in
`.meta`), so MONAI dictionary transforms can stand in the same list. Random transforms are MONAI
`Randomizable`s with their own `numpy.random.RandomState` (`self.R`): `set_random_state(transforms, seed)`
seeds every one of a list, so a run with `determinism` seeds repeats exactly.

Layout: `meta["channel_dim"]` is `"no_channel"` (no channel axis yet, straight from a loader), `0` (channels first,
MONAI's convention and the default when absent) or `-1` (channels last, Clara's 2D classification layout).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import Compose, Randomizable, Transform

from clara_tlt.errors import ConfigError
from clara_tlt.factory.arguments import signature_of
from clara_tlt.factory.registry import register

T = TypeVar("T")
FieldsArg = str | Sequence[str]
FIELD_SYNONYMS = ("field", "applied_key", "applied_keys")  # Clara's `field`, TLT's `applied_key(s)`
CHANNEL_DIM = "channel_dim"
NO_CHANNEL = "no_channel"
MAX_SEED = 2**32 - 1


class ClaraTransform(Transform):
    """A deterministic transform: `__call__(sample: dict) -> dict`. MONAI caches its output in CacheDataset."""

    def __call__(self, data: Any) -> Any:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class RandomTransform(ClaraTransform, Randomizable):
    """A random transform: draws its parameters from `self.R` (seed it with `set_random_state(seed)`)."""

    def __init__(self) -> None:
        self.R = np.random.RandomState()


FieldOp = Callable[[MetaTensor], torch.Tensor]


class FieldTransform(ClaraTransform):
    """Changes each of `fields` on its own: subclasses give `apply(image) -> image`."""

    def __init__(self, fields: FieldsArg) -> None:
        self.fields = as_fields(fields)

    def apply(self, image: MetaTensor) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        return {**data, **{key: self.apply(get_field(data, key, self)) for key in self.fields}}


class RandomFieldTransform(RandomTransform):
    """Draws once per sample, then changes every one of `fields` alike (image and label stay aligned).

    Subclasses give `draw(first)`: from the first field, the op to apply to each field, or None (no change).
    """

    def __init__(self, fields: FieldsArg) -> None:
        super().__init__()
        self.fields = as_fields(fields)

    def draw(self, first: MetaTensor) -> FieldOp | None:
        raise NotImplementedError

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        op = self.draw(get_field(data, self.fields[0], self))
        if op is None:
            return dict(data)
        return {**data, **{key: op(get_field(data, key, self)) for key in self.fields}}


def as_fields(fields: FieldsArg) -> tuple[str, ...]:
    """The sample keys a transform works on: a key or a list of keys, as a tuple."""
    names = (fields,) if isinstance(fields, str) else tuple(fields) if isinstance(fields, Sequence) else ()
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ConfigError(f"fields must be a key or a list of keys, not {fields!r}")
    return names


def one_field(fields: FieldsArg) -> str:
    """The one sample key of a transform that works on a single field (a key or a list of one key)."""
    names = as_fields(fields)
    if len(names) != 1:
        raise ConfigError(f"this transform works on one field; got {len(names)}: {', '.join(names)}")
    return names[0]


def register_transform(
    name: str, *, aliases: Iterable[str] = (), built_on: str
) -> Callable[[type[T]], type[T]]:
    """Class decorator: configs build this transform by `name` (or `aliases`); `built_on` names the MONAI
    transform it stands for (what `clara-tlt components` prints).

    A config may give the `fields` argument under any of Clara's or TLT's names (`FIELD_SYNONYMS`); they are
    mapped onto `fields` here, once, so every constructor takes only `fields`.
    """

    def decorate(cls: type[T]) -> type[T]:
        register("transform", name, aliases=aliases, built_on=built_on)(config_factory(cls))
        return cls

    return decorate


def config_factory(cls: type[T]) -> Callable[..., T]:
    """`cls`, or where it takes `fields`, a factory that also accepts the synonyms (and says so in its
    signature, which the component factory lists in its messages and whose types it checks: the annotations
    are evaluated here, so `a_min: "1"` is refused as "a_min must be a number")."""
    signature = signature_of(cls, evaluated=True)
    if signature is None or "fields" not in signature.parameters:
        return cls

    constructor: Callable[..., T] = cls

    def build(**args: Any) -> T:
        named = {key: args.pop(key, None) for key in ("fields", *FIELD_SYNONYMS)}
        given = {key: value for key, value in named.items() if value is not None}
        if len(given) > 1:
            raise ConfigError(
                f"give the fields once, not as {' and '.join(given)}: use one of "
                + ", ".join(("fields", *FIELD_SYNONYMS))
            )
        if not given:
            raise ConfigError(
                'missing \'fields\': the sample keys to transform, e.g. "fields": ["image", "label"]'
            )
        return constructor(fields=next(iter(given.values())), **args)

    keyword, optional_fields = inspect.Parameter.KEYWORD_ONLY, FieldsArg | None
    parameters = [
        p.replace(kind=keyword, default=None, annotation=optional_fields)
        if p.name == "fields"
        else p.replace(kind=keyword)
        for p in signature.parameters.values()
    ]
    parameters += [
        inspect.Parameter(s, keyword, default=None, annotation=optional_fields) for s in FIELD_SYNONYMS
    ]
    build.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    build.__name__ = build.__qualname__ = cls.__name__
    build.__doc__ = cls.__doc__
    return build


def as_meta(value: Any) -> MetaTensor:
    """A field as a `MetaTensor` (numpy arrays and plain tensors get an identity affine)."""
    if isinstance(value, MetaTensor):
        return value
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(np.ascontiguousarray(value))
    if not isinstance(value, torch.Tensor):
        value = torch.as_tensor(value)
    return MetaTensor(value)


def get_field(sample: dict[str, Any], key: str, transform: object) -> MetaTensor:
    """`sample[key]` as a MetaTensor, or a KeyError that names the transform and the keys present."""
    if key not in sample:
        raise KeyError(
            f"{type(transform).__name__}: sample has no field '{key}'; fields present: {', '.join(sample)}"
        )
    return as_meta(sample[key])


def channel_dim(x: torch.Tensor) -> int | None:
    """The channel axis of a field: None (no channel), 0 or -1; MONAI outputs count as channels first."""
    value = getattr(x, "meta", {}).get(CHANNEL_DIM, 0)
    return None if value is None or value == "no_channel" else int(value)


def set_layout(x: torch.Tensor, dim: int | None) -> MetaTensor:
    """`x` as a MetaTensor whose meta records channel axis `dim` (None, 0 or -1)."""
    image = as_meta(x)
    image.meta[CHANNEL_DIM] = NO_CHANNEL if dim is None else dim  # a string: None cannot be collated
    image.spatial_ndim = max(1, image.ndim - (0 if dim is None else 1))  # MONAI reads it, not our layout
    return image


def spatial_shape(x: torch.Tensor) -> tuple[int, ...]:
    dim = channel_dim(x)
    shape = tuple(x.shape)
    if dim is None:
        return shape
    return shape[1:] if dim == 0 else shape[:-1]


def to_channel_first(x: torch.Tensor) -> tuple[MetaTensor, Callable[[torch.Tensor], MetaTensor]]:
    """`x` as `(C, *spatial)` for a MONAI array transform, and the function that restores its layout."""
    dim = channel_dim(x)
    image = as_meta(x)
    if dim == 0:
        return set_layout(image, 0), lambda y: set_layout(y, 0)
    if dim is None:
        return set_layout(image.unsqueeze(0), 0), lambda y: set_layout(y.squeeze(0), None)
    return set_layout(image.movedim(-1, 0), 0), lambda y: set_layout(y.movedim(0, -1), -1)


def writable_array(x: torch.Tensor) -> np.ndarray:
    """A field as `clara_tlt.io.arrays.write_array` takes it: `(*spatial)` for one channel (or none), channels
    last `(*spatial, C)` for several (a vector image, as MONAI's `SaveImage` writes channels)."""
    array = to_channel_first(x)[0].detach().cpu().numpy()
    return array[0] if array.shape[0] == 1 else np.moveaxis(array, 0, -1)


def is_label(x: torch.Tensor) -> bool:
    """Integer and boolean fields are label maps: they are resampled with nearest neighbour."""
    return not torch.is_floating_point(x)


def apply_channel_first(x: torch.Tensor, op: Callable[[torch.Tensor], Any]) -> MetaTensor:
    """Run a MONAI array transform expecting `(C, *spatial)` on a field of any layout, keeping the layout."""
    cf, restore = to_channel_first(x)
    layout = channel_dim(x)
    return set_layout(restore(set_layout(op(cf), 0)), layout)


def set_random_state(transforms: Any, seed: int) -> None:
    """Seed every random transform in `transforms` (a transform, list or MONAI Compose) from one `seed`.

    Each gets its own seed drawn in list order, so adding a deterministic transform changes nothing.
    """
    rng = np.random.RandomState(seed % MAX_SEED)
    for t in _flatten(transforms):
        if isinstance(t, Randomizable) or hasattr(t, "set_random_state"):
            t.set_random_state(seed=int(rng.randint(MAX_SEED)))


def _flatten(transforms: Any) -> Iterable[Any]:
    if isinstance(transforms, Compose):
        yield from _flatten(transforms.transforms)
    elif isinstance(transforms, (list, tuple)):
        for t in transforms:
            yield from _flatten(t)
    elif transforms is not None:
        yield transforms


def apply_chain(transforms: Sequence[Callable[[Any], Any]], sample: Any) -> Any:
    """Apply `transforms` in order; where one yields a list of samples, the rest apply to each of them."""
    data = sample
    for t in transforms:
        data = [t(d) for d in data] if isinstance(data, list) else t(data)
        if isinstance(data, list) and data and isinstance(data[0], list):
            data = [d for group in data for d in group]
    return data


def unwrap_transform_error(error: BaseException) -> BaseException:
    """The error a transform raised, out of MONAI's wrappers (`RuntimeError: applying transform …`, one per
    Compose or Dataset level): the reader's ImageReadError, naming the file and the fix, reaches the user."""
    while (
        isinstance(error, RuntimeError)
        and str(error).startswith("applying transform")
        and error.__cause__ is not None
    ):
        error = error.__cause__
    return error
