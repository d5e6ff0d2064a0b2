"""Clara network names mapped onto MONAI networks, with Clara's arguments.

Clara 3.x `SegAhnet` (TLT 1.x `SegmAhnet3D`) is MONAI's AHNet; `DenseNet121` is MONAI's 2D/3D DenseNet-121.
Outputs are channel first, `(N, C, H, W[, D])`; `final_activation` is applied inside the network as in Clara.
"""

from __future__ import annotations

from pathlib import Path

import torch
from monai.networks.nets import AHNet, DenseNet121
from torch import nn

from clara_tlt.components import register
from clara_tlt.errors import ConfigError

ACTIVATIONS = ("softmax", "sigmoid", "linear")


def final_activation_layer(name: str) -> nn.Module:
    """`softmax` over channels, `sigmoid`, or `linear` (identity, i.e. logits)."""
    if name == "softmax":
        return nn.Softmax(dim=1)
    if name == "sigmoid":
        return nn.Sigmoid()
    if name == "linear":
        return nn.Identity()
    raise ConfigError(f"final_activation must be one of {', '.join(ACTIVATIONS)}, not {name!r}")


def load_pretrained(network: nn.Module, weights: str | None) -> None:
    """Load a PyTorch state dict (or a checkpoint holding `model`) into `network`; empty means train from scratch."""
    if not weights:
        return
    path = Path(weights)
    if not path.is_file():
        raise ConfigError(
            f"pretrained weights '{weights}' not found; set PRETRAIN_WEIGHTS_FILE (or pretrain_weight_name) to an "
            'existing .pt file, or to "" to train from scratch'
        )
    if path.suffix in (".h5", ".hdf5", ".ckpt", ".pb"):
        raise ConfigError(
            f"pretrained weights '{weights}' are TensorFlow/Keras weights, which PyTorch cannot load; give a .pt "
            'state dict, or "" to train from scratch'
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    missing, _unexpected = network.load_state_dict(state, strict=False)
    if len(missing) == len(network.state_dict()):
        raise ConfigError(f"pretrained weights '{weights}' share no parameter names with this network")


class ClaraNetwork(nn.Sequential):
    """A backbone followed by Clara's final activation; `backbone` keeps the MONAI network reachable."""

    def __init__(self, backbone: nn.Module, activation: str) -> None:
        super().__init__()
        self.backbone = backbone
        self.activation = final_activation_layer(activation)


@register("network", "SegAhnet", aliases=("SegmAhnet3D", "SegmAhnet"))
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
) -> nn.Module:
    """Anisotropic hybrid network (AH-Net) for segmentation; input sides must be multiples of 32.

    `plane` chose the 2D-pretrained slice plane in Clara's TensorFlow model; MONAI's AHNet has no 2D encoder
    transfer, so it is accepted for config compatibility and has no effect.
    """
    del plane
    backbone = AHNet(
        spatial_dims=n_spatial_dim,
        in_channels=num_channels or in_channels,
        out_channels=num_classes,
        psp_block_num=4 if if_use_psp else 0,
        upsample_mode=upsample_mode,
    )
    network = ClaraNetwork(backbone, final_activation)
    if not if_from_scratch:
        load_pretrained(network, pretrain_weight_name)
    return network


@register("network", "DenseNet121")
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

    Tensors are channel first here whatever `data_format` says (that was TensorFlow's layout). Clara put L2
    `weight_decay` on the model; the workflow hands it to the optimizer, where PyTorch applies it.
    """
    del data_format, weight_decay
    backbone = DenseNet121(spatial_dims=spatial_dims, in_channels=in_channels, out_channels=num_classes)
    network = ClaraNetwork(backbone, final_activation)
    load_pretrained(network, pretrain_weight_name)
    return network
