"""PyTorch networks with the topology and arguments of Clara 3.x's TensorFlow-only models (`Unet`, `SegResnet`).

The layers match Clara's; trained TensorFlow weights do not carry over (train anew, or fine-tune from a `.pt`).
Inputs `(N, C_in, *spatial)`, outputs `(N, num_classes, *spatial)` after `final_activation`. Each passes Clara's
output arguments (`final_activation`, `data_format`, `pretrain_weight_name`) on to `networks.clara_network`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from monai.networks.nets import SegResNet, SegResNetVAE
from torch import nn

from clara_tlt.errors import ConfigError
from clara_tlt.factory.arguments import forwards
from clara_tlt.factory.registry import register
from clara_tlt.learning.networks import check_dtype, clara_network


def _group_count(groups: int, channels: int) -> int:
    """Groups for a GroupNorm over `channels`: Clara's `use_group_normG` where it divides them (8 over 32),
    else the largest count dividing both (8 over 2 channels → 2), as NVIDIA's example configs need."""
    return math.gcd(groups, channels)


def _norm(kind: str, dims: int, channels: int, groups: int) -> nn.Module:
    if kind == "group":
        return nn.GroupNorm(_group_count(groups, channels), channels)
    if kind == "batch":
        return nn.BatchNorm3d(channels) if dims == 3 else nn.BatchNorm2d(channels)
    return nn.Identity()


def _norm_kind(use_batch_norm: bool, use_group_norm: bool) -> str:
    """Clara's two normalisation switches as one choice: "group", "batch" or "none"."""
    if use_batch_norm and use_group_norm:
        raise ConfigError("use_batch_norm and use_group_norm cannot both be true; choose one normalisation")
    return "group" if use_group_norm else "batch" if use_batch_norm else "none"


def _conv(
    dims: int, in_channels: int, out_channels: int, *, stride: int = 1, norm: str = "none", groups: int = 8
) -> nn.Module:
    """3×3 convolution → normalisation → LeakyReLU(0.2)."""
    conv = nn.Conv3d if dims == 3 else nn.Conv2d
    return nn.Sequential(
        conv(in_channels, out_channels, 3, stride=stride, padding=1),
        _norm(norm, dims, out_channels, groups),
        nn.LeakyReLU(0.2),
    )


class EncoderDecoderUnet(nn.Module):
    """Clara 3.x's `Unet`: each `nf_enc` conv halves the size; the first len(nf_enc) `nf_dec` convs each are
    followed by ×2 upsampling and the matching encoder output concatenated; the rest refine at full size; a
    1×1 conv gives `num_classes` logits. Sides must be multiples of 2^len(nf_enc).

    >>> EncoderDecoderUnet(3, in_channels=1, num_classes=2, nf_enc=[4, 8], nf_dec=[8, 4, 4])(torch.zeros(1, 1, 8, 8, 8)).shape
    torch.Size([1, 2, 8, 8, 8])
    """

    def __init__(
        self,
        dims: int,
        *,
        in_channels: int,
        num_classes: int,
        nf_enc: list[int],
        nf_dec: list[int],
        norm: str = "none",
        groups: int = 8,
    ) -> None:
        super().__init__()
        if not nf_enc or len(nf_dec) < len(nf_enc):
            raise ConfigError(
                f"nf_dec needs at least as many entries as nf_enc ({len(nf_enc)}): one per upsampling, got "
                f"{len(nf_dec)}"
            )
        self.encoder = nn.ModuleList()
        widths = [in_channels]
        for width in nf_enc:
            self.encoder.append(_conv(dims, widths[-1], width, stride=2, norm=norm, groups=groups))
            widths.append(width)
        self.decoder = nn.ModuleList()
        channels = widths.pop()
        for width in nf_dec[: len(nf_enc)]:
            self.decoder.append(_conv(dims, channels, width, norm=norm, groups=groups))
            channels = width + widths.pop()
        self.refine = nn.ModuleList()
        for width in nf_dec[len(nf_enc) :]:
            self.refine.append(_conv(dims, channels, width, norm=norm, groups=groups))
            channels = width
        self.head = (nn.Conv3d if dims == 3 else nn.Conv2d)(channels, num_classes, 1)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.levels = len(nf_enc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        factor = 2**self.levels
        if any(side % factor for side in x.shape[2:]):
            raise ValueError(f"Unet input sides {tuple(x.shape[2:])} must be multiples of {factor}")
        skips = [x]
        for layer in self.encoder:
            x = layer(x)
            skips.append(x)
        x = skips.pop()
        for layer in self.decoder:
            x = torch.cat([self.upsample(layer(x)), skips.pop()], dim=1)
        for layer in self.refine:
            x = layer(x)
        return self.head(x)


@register("network", "Unet", aliases=("UnetParallel",), built_on="clara_tlt")
@forwards(clara_network)
def unet(
    num_classes: int = 2,
    nf_enc: str | list[int] = "16,32,32,32",
    nf_dec: str | list[int] = "32,32,32,32,32,16,16",
    use_batch_norm: bool = False,
    use_group_norm: bool = False,
    use_group_normG: int = 8,
    n_spatial_dim: int = 3,
    in_channels: int = 1,
    **output: Any,
) -> nn.Module:
    """Clara 3.x `Unet`; widths as Clara wrote them ("16,32,32,32") or as JSON lists. `UnetParallel`, the same
    network split over several GPUs in Clara, is this network on one device (scale out with torchrun)."""
    backbone = EncoderDecoderUnet(
        n_spatial_dim,
        in_channels=in_channels,
        num_classes=num_classes,
        nf_enc=list(_blocks(nf_enc, "nf_enc")),
        nf_dec=list(_blocks(nf_dec, "nf_dec")),
        norm=_norm_kind(use_batch_norm, use_group_norm),
        groups=use_group_normG,
    )
    return clara_network(backbone, **output)


def _blocks(value: str | list[int], name: str) -> tuple[int, ...]:
    """Clara wrote block counts and widths as "1,2,2,4"; a JSON list means the same."""
    try:
        return tuple(int(v) for v in (value.split(",") if isinstance(value, str) else value))
    except ValueError:
        raise ConfigError(
            f'{name} must be block counts like "1,2,2,4" or [1, 2, 2, 4], got {value!r}'
        ) from None


@register("network", "SegResnet", aliases=("SegResNet3D",), built_on="monai.networks.nets.SegResNet")
@forwards(clara_network)
def seg_resnet(
    num_classes: int = 2,
    in_channels: int = 1,
    n_spatial_dim: int = 3,
    init_filters: int = 8,
    blocks_down: str | list[int] = "1,2,2,4",
    blocks_up: str | list[int] = "1,1,1",
    use_batch_norm: bool = False,
    use_group_norm: bool = True,
    use_group_normG: int = 8,
    dropout_prob: float | None = None,
    use_vae: bool = False,
    reg_weight: float = 0.0,
    input_image_size: Sequence[int] | None = None,
    **output: Any,
) -> nn.Module:
    """Clara 3.x `SegResnet` (Myronenko's encoder-decoder) on MONAI's SegResNet; sides multiples of 2^(levels-1).

    `reg_weight` (L2 on the weights) goes to the optimizer as its weight decay (the workflow does that).
    `use_vae` adds Myronenko's VAE branch (MONAI `SegResNetVAE`), which regularises training: it reconstructs
    training crops of `input_image_size` (by default the training pipeline's `output_crop_size`), and 0.1 × its
    loss joins the training loss; validation and inference use the segmentation branch alone, at any size.
    """
    del reg_weight
    kind = _norm_kind(use_batch_norm, use_group_norm)
    norm: tuple[str, dict[str, int]] | str = (
        ("group", {"num_groups": 1}) if kind == "group" else "batch" if kind == "batch" else "instance"
    )
    layers: dict[str, Any] = {
        "spatial_dims": n_spatial_dim,
        "init_filters": init_filters,
        "in_channels": in_channels,
        "out_channels": num_classes,
        "dropout_prob": dropout_prob,
        "norm": norm,
        "blocks_down": _blocks(blocks_down, "blocks_down"),
        "blocks_up": _blocks(blocks_up, "blocks_up"),
    }
    backbone: nn.Module = SegResNet(**layers)
    if use_vae:
        if not input_image_size or any(int(s) <= 0 for s in input_image_size):
            raise ConfigError(
                "use_vae needs the training crop size: give input_image_size, or output_crop_size to the "
                f"training image pipeline (got {input_image_size!r})"
            )
        backbone = VaeRegularised(SegResNetVAE(input_image_size=[int(s) for s in input_image_size], **layers))
    if kind == "group":
        _regroup(backbone, use_group_normG)
    return clara_network(backbone, **output)


VAE_LOSS_WEIGHT = 0.1  # Myronenko 2018: L = L_dice + 0.1·L_L2 + 0.1·L_KL


class VaeRegularised(nn.Module):
    """MONAI's SegResNetVAE as a segmentation backbone: `forward` gives the segmentation `(N, C, *spatial)`;
    in training it also leaves `auxiliary_loss`, 0.1 × the VAE's reconstruction and KL loss, which the trainer
    adds to the loss (None in evaluation)."""

    def __init__(self, network: SegResNetVAE) -> None:
        super().__init__()
        self.network = network
        self.auxiliary_loss: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        segmentation, vae_loss = self.network(x)
        self.auxiliary_loss = None if vae_loss is None else VAE_LOSS_WEIGHT * vae_loss
        return segmentation


def _regroup(network: nn.Module, groups: int) -> None:
    """Give each GroupNorm of `network` `_group_count(groups, its channels)` groups (MONAI builds one count for
    all layers, which fails where `groups` does not divide a layer's channels)."""
    for parent in list(network.modules()):
        for name, child in parent.named_children():
            if isinstance(child, nn.GroupNorm):
                count = _group_count(groups, child.num_channels)
                setattr(
                    parent, name, nn.GroupNorm(count, child.num_channels, eps=child.eps, affine=child.affine)
                )


class AlexNetND(nn.Module):
    """AlexNet for 2D or 3D images: five convolutions (kernels 11/4, 5, 3, 3, 3; max pooling after the 1st, 2nd
    and 5th), global average pooling, two hidden fully connected layers with dropout, `num_classes` logits.

    Clara's TensorFlow AlexNet flattened a fixed input size into the first dense layer; global pooling here lets
    any input size through with the same layer widths (`num_feat`: 5 conv widths, then 2 dense widths).
    """

    def __init__(
        self,
        dims: int,
        *,
        in_channels: int,
        num_classes: int,
        num_feat: list[int],
        norm: str,
        groups: int,
        dropout_prob: float,
    ) -> None:
        super().__init__()
        conv, pool = (nn.Conv3d, nn.MaxPool3d) if dims == 3 else (nn.Conv2d, nn.MaxPool2d)
        kernels, strides, pooled = (11, 5, 3, 3, 3), (4, 1, 1, 1, 1), (True, True, False, False, True)
        layers: list[nn.Module] = []
        channels = in_channels
        for width, kernel, stride, then_pool in zip(num_feat[:5], kernels, strides, pooled, strict=True):
            layers += [
                conv(channels, width, kernel, stride=stride, padding=kernel // 2),
                _norm(norm, dims, width, groups),
            ]
            layers.append(nn.ReLU())
            if then_pool:
                layers.append(pool(3, stride=2, padding=1))
            channels = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool3d(1) if dims == 3 else nn.AdaptiveAvgPool2d(1)
        hidden = num_feat[5:]
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout_prob),
            nn.Linear(channels, hidden[0]),
            nn.ReLU(),
            nn.Dropout(dropout_prob),
            nn.Linear(hidden[0], hidden[1]),
            nn.ReLU(),
            nn.Linear(hidden[1], num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x)))


@register("network", "Alexnet", built_on="clara_tlt")
@forwards(clara_network)
def alexnet(
    num_classes: int = 2,
    num_feat: str | list[int] = "96,256,512,1024,1024,3072,4096",
    mil: bool = False,
    use_batch_norm: bool = False,
    use_group_norm: bool = True,
    use_group_normG: int = 8,
    reg_weight: float = 0.0,
    dropout_prob: float = 0.5,
    n_spatial_dim: int = 3,
    in_channels: int = 1,
    dtype: str = "float32",
    **output: Any,
) -> nn.Module:
    """Clara 3.x `Alexnet` classifier `(N, C, *spatial)` → `(N, num_classes)`; `n_spatial_dim` and `in_channels`
    are ours (Clara read them from the input)."""
    del reg_weight  # L2 on the weights: the workflow hands it to the optimizer as weight_decay
    check_dtype(dtype)
    if mil:
        raise ConfigError("Alexnet's multiple-instance learning (mil) cannot be honoured here; set mil false")
    widths = list(_blocks(num_feat, "num_feat"))
    if len(widths) != 7:
        raise ConfigError(f"num_feat needs 7 widths (5 convolutions, 2 dense layers), got {len(widths)}")
    backbone = AlexNetND(
        n_spatial_dim,
        in_channels=in_channels,
        num_classes=num_classes,
        num_feat=widths,
        norm=_norm_kind(use_batch_norm, use_group_norm),
        groups=use_group_normG,
        dropout_prob=dropout_prob,
    )
    return clara_network(backbone, **output)
