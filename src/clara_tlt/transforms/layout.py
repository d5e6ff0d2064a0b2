"""Channel layout and label bookkeeping: channels first/last, repeat, split, argmax, copy meta properties."""

from __future__ import annotations

import copy
import logging
from typing import Any

import torch
from monai.data import MetaTensor
from monai.transforms import AsDiscrete

from clara_tlt.errors import ConfigError
from clara_tlt.transforms.base import (
    CHANNEL_DIM,
    ClaraTransform,
    FieldsArg,
    FieldTransform,
    as_fields,
    as_meta,
    channel_dim,
    get_field,
    one_field,
    register_transform,
    set_layout,
    to_channel_first,
)
from clara_tlt.transforms.labels import describe_values, label_values_outside

log = logging.getLogger(__name__)


@register_transform(
    "ConvertToChannelsFirst",
    aliases=("VolumeTo4dArray", "VolumeTo4DArray"),
    built_on="MONAI EnsureChannelFirstd",
)
class ConvertToChannelsFirst(FieldTransform):
    """`(*spatial)` → `(1, *spatial)`; `(*spatial, C)` → `(C, *spatial)`; channels-first input is unchanged.

    MONAI: `EnsureChannelFirstd(keys)`. Example: `(32, 32, 16)` → `(1, 32, 32, 16)`.
    """

    def apply(self, image: MetaTensor) -> MetaTensor:
        return to_channel_first(image)[0]


@register_transform("ConvertToChannelsLast", built_on="MONAI Transposed")
class ConvertToChannelsLast(FieldTransform):
    """`(C, *spatial)` → `(*spatial, C)`; `(*spatial)` → `(*spatial, 1)`. Clara's 2D classification layout.

    MONAI: none (MONAI is channels first); `Transposed` for a fixed rank.
    """

    def apply(self, image: MetaTensor) -> MetaTensor:
        return set_layout(to_channel_first(image)[0].movedim(0, -1), -1)


@register_transform("NPExpandDims", built_on="MONAI EnsureChannelFirstd")
class ExpandDims(FieldTransform):
    """Insert a singleton axis at `expand_axis` (default 0, a channel axis). MONAI: `EnsureChannelFirstd`."""

    def __init__(self, fields: FieldsArg, expand_axis: int = 0) -> None:
        super().__init__(fields)
        self.expand_axis = expand_axis

    def apply(self, image: MetaTensor) -> MetaTensor:
        layout = 0 if self.expand_axis == 0 else -1 if self.expand_axis == -1 else None
        return set_layout(image.unsqueeze(self.expand_axis), layout)


@register_transform("RepeatChannel", aliases=("NPRepChannels",), built_on="MONAI RepeatChanneld")
class RepeatChannel(FieldTransform):
    """Repeat the channel axis `repeat_times` times (a grey image → 3 channels); a field without one gets one.

    `channel_axis` overrides the field's layout. MONAI: `RepeatChanneld(keys, repeats)`.
    Example: `(256, 256, 1)` channels last, `repeat_times=3` → `(256, 256, 3)`.
    """

    def __init__(
        self,
        fields: FieldsArg,
        *,
        repeat_times: int | None = None,
        repeat: int | None = None,
        channel_axis: int | None = None,
    ) -> None:
        super().__init__(fields)
        times = repeat_times if repeat_times is not None else repeat
        if times is None or int(times) < 1:
            raise ConfigError(f"repeat_times (TLT: repeat) must be a positive integer, e.g. 3; got {times!r}")
        self.times = int(times)
        self.channel_axis = channel_axis

    def apply(self, image: MetaTensor) -> torch.Tensor:
        axis = self.channel_axis if self.channel_axis is not None else channel_dim(image)
        if axis is None:
            image, axis = set_layout(image.unsqueeze(0), 0), 0
        return torch.repeat_interleave(image, self.times, dim=axis)


@register_transform("ArgmaxAcrossChannels", built_on="MONAI AsDiscreted(argmax=True)")
class ArgmaxAcrossChannels(FieldTransform):
    """`(C, *spatial)` scores → `(1, *spatial)` class indices (uint8). MONAI: `AsDiscreted(keys, argmax=True)`."""

    def __init__(self, fields: FieldsArg) -> None:
        super().__init__(fields)
        self._argmax = AsDiscrete(argmax=True, keepdim=True)

    def apply(self, image: MetaTensor) -> MetaTensor:
        return set_layout(as_meta(self._argmax(to_channel_first(image)[0])).to(torch.uint8), 0)


@register_transform("SplitBasedOnLabel", built_on="MONAI AsDiscreted(to_onehot) + SplitDimd")
class SplitBasedOnLabel(ClaraTransform):
    """One binary uint8 field per label value: `label_names[i]` = (field == i), shape `(1, *spatial)`.

    MONAI: `AsDiscreted(keys, to_onehot=n)` then `SplitDimd(keys, output_postfixes)`.
    """

    def __init__(self, fields: FieldsArg, label_names: list[str] | None = None) -> None:
        self.key = one_field(fields)
        if not label_names:
            raise ConfigError(
                "label_names must list one new field name per label value, e.g. ['background', 'spleen']"
            )
        self.label_names = list(label_names)

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        image = get_field(data, self.key, self)
        outside = label_values_outside(image, len(self.label_names))
        if outside:
            source = getattr(image, "meta", {}).get("filename_or_obj") or f"field '{self.key}'"
            log.warning(
                "%s: value(s) %s outside the %d classes of label_names (%s): those voxels fall in none of them, "
                "and the metrics scoring them are wrong; fix the file, or list a name per value",
                source,
                describe_values(outside),
                len(self.label_names),
                ", ".join(self.label_names),
            )
        out = dict(data)
        for value, name in enumerate(self.label_names):
            out[name] = (image == value).to(torch.uint8)
        return out


@register_transform("SplitAcrossChannels", built_on="MONAI SplitDimd")
class SplitAcrossChannels(ClaraTransform):
    """Channel i of the field → field `channel_names[i]` (default `<key><i>`), `(1, *spatial)` or squeezed.

    MONAI: `SplitDimd(keys, dim=0, keepdim=not squeeze)`.
    """

    def __init__(
        self, fields: FieldsArg, channel_names: list[str] | None = None, squeeze: bool = False
    ) -> None:
        self.key = one_field(fields)
        self.channel_names = channel_names
        self.squeeze = squeeze

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        image, _ = to_channel_first(get_field(data, self.key, self))
        names = self.channel_names or [f"{self.key}{i}" for i in range(image.shape[0])]
        if len(names) != image.shape[0]:
            raise ValueError(
                f"SplitAcrossChannels: {len(names)} channel_names for {image.shape[0]} channels of '{self.key}'"
            )
        out = dict(data)
        for index, name in enumerate(names):
            part = image[index : index + 1]
            out[name] = set_layout(part.squeeze(0), None) if self.squeeze else set_layout(part, 0)
        return out


@register_transform("CopyProperties", built_on="MONAI CopyItemsd")
class CopyProperties(ClaraTransform):
    """Copy meta properties (`affine`, or any meta key) of `from_field` onto each of `fields`. MONAI: `CopyItemsd`."""

    def __init__(
        self, fields: FieldsArg, from_field: str = "image", properties: list[str] | None = None
    ) -> None:
        self.fields = as_fields(fields)
        self.from_field = from_field
        self.properties = list(properties or ["affine"])

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        source = get_field(data, self.from_field, self)
        out = dict(data)
        for key in self.fields:
            image = get_field(data, key, self).clone()
            for prop in self.properties:
                if prop == "affine":
                    image.affine = source.affine.clone()
                elif prop in source.meta:
                    image.meta[prop] = copy.deepcopy(source.meta[prop])
                elif prop != CHANNEL_DIM:
                    raise KeyError(f"CopyProperties: '{self.from_field}' has no property '{prop}'")
            out[key] = image
        return out
