"""What both inferers ask of a network's output, and how class scores become a label volume."""

from __future__ import annotations

import torch
from monai.data import MetaTensor
from monai.utils import convert_to_dst_type

from clara_tlt.errors import ClaraError


def checked_scores(output: object, inputs: torch.Tensor, *, same_spatial: bool = True) -> torch.Tensor:
    """The network's `output` for `inputs` `(B, C_in, *spatial)`, required to be a `(B, C_out, *spatial)` tensor
    (with `same_spatial` false, any `(B, …)` tensor: a classifier's `(B, K)` scores)."""
    if not isinstance(output, torch.Tensor):
        raise ClaraError(
            f"the network returned a {type(output).__name__}; inference needs one tensor of class scores "
            "(N, C, *spatial). Wrap the network so that it returns only its main output"
        )
    if output.shape[0] != inputs.shape[0] or (same_spatial and output.shape[2:] != inputs.shape[2:]):
        raise ClaraError(
            f"the network turned input {tuple(inputs.shape)} into {tuple(output.shape)}; inference needs the "
            "same batch and spatial size back, with class scores on axis 1"
        )
    return output


def label_dtype(channels: int) -> torch.dtype:
    """The smallest integer type that holds `channels` class indices: uint8 up to 256 classes, then int16."""
    if channels <= 256:
        return torch.uint8
    return torch.int16 if channels <= 2**15 else torch.int32


def as_input_type(result: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """`result` carrying the metadata (affine, file name) of `inputs` when those are a MONAI `MetaTensor`."""
    if not isinstance(inputs, MetaTensor):
        return result
    template = MetaTensor([]).copy_meta_from(inputs, copy_attr=False)
    return convert_to_dst_type(result, template, dtype=result.dtype, device=result.device)[0]
