"""Clara network names mapped onto MONAI networks, with Clara's arguments.

Clara 3.x `SegAhnet` (TLT 1.x `SegmAhnet3D`) is MONAI's AHNet; `DenseNet121` is MONAI's 2D/3D DenseNet-121.
Outputs are channel first, `(N, C, H, W[, D])`; `final_activation` is applied inside the network as in Clara.
"""

from __future__ import annotations

from pathlib import Path

import torch
from monai.networks.nets import AHNet, DenseNet121
from torch import nn

from clara_tlt.errors import ConfigError
from clara_tlt.factory.registry import register
from clara_tlt.formats.suffixes import TF_SUFFIXES
from clara_tlt.learning.data_format import channels_last_of

ACTIVATIONS = ("softmax", "sigmoid", "linear")


def check_dtype(dtype: str) -> None:
    """Clara's network `dtype`: the weights stay float32 here; half precision comes from `use_amp`."""
    if dtype != "float32":
        raise ConfigError(
            f"dtype {dtype!r} cannot be honoured: weights are float32 here; for half precision set the global "
            '"use_amp": true (mixed precision), and remove dtype'
        )


def check_weight_url(url: str | None) -> None:
    """Clara's `pretrain_weight_url`: nothing is downloaded at run time here."""
    if url:
        raise ConfigError(
            f"pretrain_weight_url {url!r} cannot be honoured: nothing is downloaded while training; download the "
            "weights once (clara-tlt pull for registry models), set pretrain_weight_name to the .pt file, and "
            "remove pretrain_weight_url"
        )


def final_activation_layer(name: str) -> nn.Module:
    """`softmax` over channels, `sigmoid`, or `linear` (identity, i.e. logits)."""
    if name == "softmax":
        return nn.Softmax(dim=1)
    if name == "sigmoid":
        return nn.Sigmoid()
    if name == "linear":
        return nn.Identity()
    raise ConfigError(f"final_activation must be one of {', '.join(ACTIVATIONS)}, not {name!r}")


def pretrained_path(weights: str | None) -> Path | None:
    """Clara's `pretrain_weight_name`: the file the engine loads before training ("" or None: from scratch).

    Only checked here (so `--dry-run` catches a wrong path); `clara_tlt.engines.checkpoint.load_weights` loads it,
    strictly or with `partial_load`.
    """
    if not weights:
        return None
    path = Path(weights)
    if not path.is_file():
        raise ConfigError(
            f"pretrained weights '{weights}' not found; set PRETRAIN_WEIGHTS_FILE (or pretrain_weight_name) to an "
            'existing .pt file, or to "" to train from scratch'
        )
    if path.name.lower().endswith(TF_SUFFIXES):
        raise ConfigError(
            f"pretrained weights '{weights}' are TensorFlow/Keras weights, which PyTorch cannot load; give a .pt "
            'state dict, or "" to train from scratch'
        )
    return path


class ClaraNetwork(nn.Module):
    """A MONAI backbone followed by Clara's final activation.

    `channels_last`: the network takes `(N, *spatial, C)` as Clara's TensorFlow model did (`data_format`) and
    moves channels first for the backbone. `pretrained_weights` is the file the engine loads before training.
    """

    def __init__(
        self,
        backbone: nn.Module,
        activation: str,
        *,
        channels_last: bool = False,
        pretrained_weights: Path | None = None,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.activation = final_activation_layer(activation)
        self.channels_last = channels_last
        self.pretrained_weights = pretrained_weights

    @property
    def auxiliary_loss(self) -> torch.Tensor | None:
        """A loss term the backbone computed in its last training forward pass (SegResnet's VAE), else None;
        the trainer adds it to the loss."""
        return getattr(self.backbone, "auxiliary_loss", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = x.movedim(x.dim() - 1, 1)  # a positive axis: the ONNX exporter writes -1 as an invalid perm
        return self.activation(self.backbone(x))


def clara_network(
    backbone: nn.Module,
    *,
    final_activation: str = "softmax",
    data_format: str = "channels_first",
    pretrain_weight_name: str | None = None,
) -> ClaraNetwork:
    """`backbone` as Clara's network, from the output arguments Clara's networks take (the TensorFlow ones
    forward them here): `final_activation`, `data_format` (`channels_last`: the network takes
    `(N, *spatial, C)`) and `pretrain_weight_name` (the weights the engine loads before training)."""
    return ClaraNetwork(
        backbone,
        final_activation,
        channels_last=channels_last_of(data_format),
        pretrained_weights=pretrained_path(pretrain_weight_name),
    )


@register("network", "SegAhnet", aliases=("SegmAhnet3D", "SegmAhnet"), built_on="monai.networks.nets.AHNet")
def seg_ahnet(
    num_classes: int = 2,
    n_spatial_dim: int = 3,
    in_channels: int = 1,
    num_channels: int | None = None,
    if_use_psp: bool = False,
    final_activation: str = "softmax",
    pretrain_weight_name: str | None = None,
    if_from_scratch: bool = False,
    plane: str = "z",
    upsample_mode: str = "transpose",
    data_format: str = "channels_first",
    dtype: str = "float32",
    pretrain_weight_url: str | None = None,
) -> nn.Module:
    """Anisotropic hybrid network (AH-Net) for segmentation; input sides must be multiples of 32.

    `plane` is the slice plane of the 2D-style encoder: MONAI's AHNet has it across the last axis, Clara's
    default "z"; another plane cannot be honoured and is an error rather than silently the z plane.
    """
    check_dtype(dtype)
    check_weight_url(pretrain_weight_url)
    if plane != "z":
        raise ConfigError(
            f"plane {plane!r} cannot be honoured: this AH-Net's 2D-style encoder works on z slices (the last "
            'axis); reorient the volumes so that axis is z and set plane "z"'
        )
    backbone = AHNet(
        spatial_dims=n_spatial_dim,
        in_channels=num_channels or in_channels,
        out_channels=num_classes,
        psp_block_num=4 if if_use_psp else 0,
        upsample_mode=upsample_mode,
    )
    weights = None if if_from_scratch else pretrained_path(pretrain_weight_name)
    return ClaraNetwork(
        backbone, final_activation, channels_last=channels_last_of(data_format), pretrained_weights=weights
    )


@register("network", "DenseNet121", built_on="monai.networks.nets.DenseNet121")
def densenet121(
    num_classes: int = 15,
    in_channels: int = 3,
    spatial_dims: int = 2,
    data_format: str = "channels_last",
    weight_decay: float | None = None,
    final_activation: str = "linear",
    pretrain_weight_name: str | None = None,
) -> nn.Module:
    """DenseNet-121 classifier emitting logits `(N, num_classes)`; Clara's chest X-ray model has 15 classes.

    With `data_format` `channels_last` (the seed's) it takes `(N, H, W, C)` images, as Clara's did. Clara put L2
    `weight_decay` on the model; the workflow hands it to the optimizer, where PyTorch applies it.
    """
    del weight_decay
    backbone = DenseNet121(spatial_dims=spatial_dims, in_channels=in_channels, out_channels=num_classes)
    return clara_network(
        backbone,
        final_activation=final_activation,
        data_format=data_format,
        pretrain_weight_name=pretrain_weight_name,
    )
