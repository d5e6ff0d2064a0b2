"""Clara 3.x label transforms: thresholds, largest connected component, multi-channel label conversions.

Label outputs are channels first, `(C, *spatial)`, with the input's affine and meta; `dtype` names their
element type as NumPy spells it (`"uint8"`, the default, or `"float32"` where a loss wants floats).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import AsDiscrete
from monai.transforms import ConvertToMultiChannelBasedOnBratsClasses as MonaiBratsChannels
from scipy import ndimage

from clara_tlt.errors import ConfigError
from clara_tlt.transforms.base import (
    ClaraTransform,
    FieldsArg,
    FieldTransform,
    apply_channel_first,
    as_meta,
    get_field,
    one_field,
    register_transform,
    set_layout,
    to_channel_first,
)

BRATS_CLASSES = ("TC", "WT", "ET")  # tumour core (1|4), whole tumour (1|2|4), enhancing tumour (4)
BRATS_SPELLINGS = {"TC": "TC", "WT": "WT", "WC": "WT", "ET": "ET"}  # Clara's API page also writes "WC"


def torch_dtype(name: str) -> torch.dtype:
    """The torch element type a NumPy type name stands for: `"uint8"` → `torch.uint8`."""
    try:
        return torch.from_numpy(np.zeros(0, dtype=np.dtype(name))).dtype
    except TypeError as exc:
        raise ConfigError(
            f"dtype must name a numeric NumPy type such as 'uint8' or 'float32'; got {name!r}"
        ) from exc


def labels_first(image: MetaTensor, transform: object) -> MetaTensor:
    """A label map as `(1, *spatial)`, or a ValueError naming `transform` when it holds several channels."""
    cf = to_channel_first(image)[0]
    if cf.shape[0] != 1:
        raise ValueError(
            f"{type(transform).__name__}: expects a label map of one channel; got {cf.shape[0]} channels "
            f"(shape {tuple(cf.shape)})"
        )
    return cf


@register_transform("ThresholdValues", built_on="MONAI AsDiscreted(threshold) (which is >=)")
class ThresholdValues(FieldTransform):
    """Binarise each of `fields`: values above `threshold` → 1, the rest (the threshold itself too) → 0, uint8.

    Shapes and affine are kept: `(C, *spatial)` sigmoid scores → `(C, *spatial)` masks. MONAI:
    `AsDiscreted(keys, threshold=...)`, which keeps values equal to the threshold (`>=`). Example:
    `{"fields": "model", "threshold": 0.5}`.
    """

    def __init__(self, fields: FieldsArg, threshold: float = 0.5) -> None:
        super().__init__(fields)
        self.threshold = float(threshold)

    def apply(self, image: MetaTensor) -> torch.Tensor:
        return (image > self.threshold).to(torch.uint8)


def largest_component(mask: np.ndarray, connectivity: int | None) -> np.ndarray:
    """The largest connected component of a boolean `mask` (`(*spatial)`); the first in scan order on a tie.

    `connectivity` is the number of orthogonal hops between neighbours (1 = faces; None = all of `mask.ndim`).
    """
    structure = ndimage.generate_binary_structure(mask.ndim, connectivity or mask.ndim)
    components, count = ndimage.label(mask, structure=structure)
    if count <= 1:
        return mask
    sizes = np.bincount(components.ravel())[1:]
    return components == int(np.argmax(sizes)) + 1


@register_transform(
    "KeepLargestCC",
    built_on="MONAI KeepLargestConnectedComponentd (ours on SciPy: MONAI's needs scikit-image)",
)
class KeepLargestCC(FieldTransform):
    """Keep only the largest connected component of each label; voxels of the other components become 0.

    A one-channel label map is treated label by label (`applied_labels`: the values to clean, default every
    non-zero value); a multi-channel field (one binary mask per channel, such as BraTS TC/WT/ET) channel by
    channel (`applied_labels`: the channel indices, default all). `connectivity`: orthogonal hops that make
    voxels neighbours, 1 (faces) to the spatial rank (default, corners too). Shapes, dtype and affine are kept.

    MONAI: `KeepLargestConnectedComponentd(keys, applied_labels, connectivity)` (which needs scikit-image and,
    by default, skips channel 0 of multi-channel input; ours uses SciPy and skips nothing).
    """

    def __init__(
        self,
        fields: FieldsArg,
        applied_labels: int | list[int] | None = None,
        connectivity: int | None = None,
    ) -> None:
        super().__init__(fields)
        if connectivity is not None and connectivity < 1:
            raise ConfigError(
                f"connectivity must be 1 (faces) or more, up to the spatial rank; got {connectivity}"
            )
        self.applied_labels = [applied_labels] if isinstance(applied_labels, int) else applied_labels
        self.connectivity = connectivity

    def apply(self, image: MetaTensor) -> MetaTensor:
        return apply_channel_first(image, self._keep)

    def _keep(self, cf: torch.Tensor) -> torch.Tensor:
        array = cf.detach().cpu().numpy()
        remove = np.zeros(array.shape, dtype=bool)
        if array.shape[0] == 1:
            values = self.applied_labels or [v for v in np.unique(array) if v != 0]
            masks = [(0, array[0] == v) for v in values]
        else:
            channels = self.applied_labels or range(array.shape[0])
            if any(not 0 <= c < array.shape[0] for c in channels):
                raise ValueError(
                    f"KeepLargestCC: applied_labels {list(channels)} name channels beyond the "
                    f"{array.shape[0]} of the field"
                )
            masks = [(c, array[c] > 0) for c in channels]
        for channel, mask in masks:
            remove[channel] |= mask & ~largest_component(mask, self.connectivity)
        return cf.masked_fill(torch.from_numpy(remove).to(cf.device), 0)


def brats_channels(label: MetaTensor, class_names: list[str]) -> torch.Tensor:
    """`(1, *spatial)` BraTS labels (1 necrosis, 2 oedema, 4 enhancing) → `(len(class_names), *spatial)` bool."""
    channels = as_meta(MonaiBratsChannels()(label[0]))
    return channels[[BRATS_CLASSES.index(name) for name in class_names]]


def brats_class_names(class_names: list[str] | None) -> list[str]:
    """The BraTS classes to make, in order, spelled as `BRATS_CLASSES` (default all three)."""
    names = list(class_names or BRATS_CLASSES)
    unknown = [n for n in names if str(n).upper() not in BRATS_SPELLINGS]
    if unknown:
        raise ConfigError(
            f"class_names: unknown BraTS classes {unknown}; choose among {', '.join(BRATS_CLASSES)}"
        )
    return [BRATS_SPELLINGS[n.upper()] for n in names]


@register_transform(
    "ConvertToMultiChannelBasedOnBratsClasses",
    aliases=("BratsConvertLabels",),
    built_on="MONAI ConvertToMultiChannelBasedOnBratsClassesd",
)
class ConvertToMultiChannelBasedOnBratsClasses(FieldTransform):
    """BraTS labels 1, 2, 4 → one channel per class of `class_names` (default `["TC", "WT", "ET"]`): tumour core
    (1|4), whole tumour (1|2|4), enhancing tumour (4). Clara's API page also spells WT as `WC`.

    Shapes: `(*spatial)` or `(1, *spatial)` → `(len(class_names), *spatial)`, as `dtype` (default uint8),
    affine kept. MONAI: `ConvertToMultiChannelBasedOnBratsClassesd(keys)`.
    """

    def __init__(self, fields: FieldsArg, class_names: list[str] | None = None, dtype: str = "uint8") -> None:
        super().__init__(fields)
        self.class_names = brats_class_names(class_names)
        self.dtype = torch_dtype(dtype)

    def apply(self, image: MetaTensor) -> MetaTensor:
        return set_layout(brats_channels(labels_first(image, self), self.class_names).to(self.dtype), 0)


@register_transform(
    "SplitBasedOnBratsClasses", built_on="MONAI ConvertToMultiChannelBasedOnBratsClassesd + SplitDimd"
)
class SplitBasedOnBratsClasses(ClaraTransform):
    """One field per BraTS class, `(1, *spatial)` each, as `dtype` (default uint8): the BraTS twin of
    `SplitBasedOnLabel`, so a metric can score tumour core, whole tumour and enhancing tumour apart.

    Clara 3.x: `SplitBasedOnBratsClasses` (its library splitter takes `class_names`, `dtype`; the component's
    arguments are not documented); our reading: `field` holds either BraTS labels (1, 2, 4; one channel),
    converted as `ConvertToMultiChannelBasedOnBratsClasses` does, or the `len(class_names)` channels of a
    thresholded TC/WT/ET prediction, taken as they are. `class_names` picks the classes (default
    `["TC", "WT", "ET"]`); the new fields are `label_names` (one per class) or `<field>_<class>`.
    MONAI: `ConvertToMultiChannelBasedOnBratsClassesd` then `SplitDimd`.
    """

    def __init__(
        self,
        fields: FieldsArg,
        *,
        class_names: list[str] | None = None,
        label_names: list[str] | None = None,
        dtype: str = "uint8",
    ) -> None:
        self.key = one_field(fields)
        self.class_names = brats_class_names(class_names)
        self.label_names = list(label_names or [f"{self.key}_{name}" for name in self.class_names])
        if len(self.label_names) != len(self.class_names):
            raise ConfigError(
                f"label_names must name one field per class of {self.class_names}; got {self.label_names}"
            )
        self.dtype = torch_dtype(dtype)

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        cf = to_channel_first(get_field(data, self.key, self))[0]
        if cf.shape[0] == 1:
            channels = brats_channels(cf, self.class_names)
        elif cf.shape[0] == len(self.class_names):
            channels = cf > 0
        else:
            raise ValueError(
                f"SplitBasedOnBratsClasses: '{self.key}' has {cf.shape[0]} channels; expected BraTS labels "
                f"(1 channel) or one channel per class of {self.class_names}"
            )
        out = dict(data)
        for index, name in enumerate(self.label_names):
            out[name] = set_layout(channels[index : index + 1].to(self.dtype), 0)
        return out


@register_transform("ConvertToMultiChannelBasedOnLabel", built_on="MONAI AsDiscreted(to_onehot)")
class ConvertToMultiChannelBasedOnLabel(FieldTransform):
    """One-hot: label values 0 … `num_classes - 1` → `num_classes` channels, channel i = (label == i), the
    background channel 0 included.

    Clara 3.x: `ConvertToMultiChannelBasedOnLabel` (arguments not documented); our reading: `fields`,
    `num_classes` (as Clara's networks name the class count) and `dtype` (default uint8), like the BraTS
    converter. Shapes: `(*spatial)` or `(1, *spatial)` → `(num_classes, *spatial)`, affine kept; a label outside
    `0 … num_classes - 1` is an error. MONAI: `AsDiscreted(keys, to_onehot=num_classes)`.
    """

    def __init__(self, fields: FieldsArg, num_classes: int, dtype: str = "uint8") -> None:
        super().__init__(fields)
        if num_classes < 2:
            raise ConfigError(f"num_classes must count the background too (2 or more); got {num_classes}")
        self.num_classes = num_classes
        self.dtype = torch_dtype(dtype)
        self._onehot = AsDiscrete(to_onehot=num_classes)

    def apply(self, image: MetaTensor) -> MetaTensor:
        label = labels_first(image, self)
        if label.numel() and (label.min() < 0 or label.max() >= self.num_classes):
            raise ValueError(
                f"ConvertToMultiChannelBasedOnLabel: label values {label.min().item()} … {label.max().item()} "
                f"fall outside 0 … {self.num_classes - 1} (num_classes={self.num_classes})"
            )
        return set_layout(as_meta(self._onehot(label)).to(self.dtype), 0)


def label_values_outside(label: torch.Tensor, classes: int) -> list[float]:
    """The values (up to 5) of a label map outside `0 … classes - 1`; none for a label that fits (the usual
    case costs one min and one max)."""
    if not label.numel() or (label.min() >= 0 and label.max() < classes):
        return []
    outside = label[(label < 0) | (label >= classes)]
    return [float(v) for v in torch.unique(outside)[:5]]


def describe_values(values: list[float]) -> str:
    """`7, 255` for a message."""
    return ", ".join(f"{v:g}" for v in values)
