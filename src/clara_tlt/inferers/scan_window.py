"""Scanning-window inference whose blended output can be streamed straight into a label volume."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any

import torch
import torch.nn.functional as F
from monai.data import MetaTensor
from monai.data.utils import compute_importance_map
from monai.inferers import Inferer
from monai.utils import BlendMode, PytorchPadMode
from tqdm import tqdm

from clara_tlt.config.suggest import did_you_mean
from clara_tlt.errors import ClaraError, ConfigError
from clara_tlt.inferers.blending import CellBlender, LabelTarget, ScoreTarget, Target
from clara_tlt.inferers.outputs import as_input_type, checked_scores, label_dtype
from clara_tlt.inferers.placement import plan_windows


class ScanWindowInferer(Inferer):
    """Windows of `roi_size` over `(N, C_in, *spatial)` (2-D or 3-D), blended into `(N, C_out, *spatial)`.

    `batch_size` windows go through the network per forward pass, neighbours overlap by `overlap` (a fraction
    of the window, per axis or for all), and overlapping outputs are averaged with `blend_mode` weights:
    `constant` (equal) or `gaussian` (centres count more; sigma = `sigma_scale` · window size). Inputs smaller
    than the window are padded (`padding_mode`, as `torch.nn.functional.pad`) and the output cropped back.
    Windows go to the device of the network's parameters (the input's device for a parameterless callable);
    the blended output lives on `device` (default: the input's device). Window positions and importance maps
    are MONAI's, so the output matches `monai.inferers.sliding_window_inference` with the same settings.

    With `labels = True` (a public attribute, for the infer engine to set when the first post-transform takes
    the argmax across channels) the call returns `(N, 1, *spatial)` class indices instead (uint8 up to 256 classes,
    int16 beyond). Windows are visited row by row along the axis with the most window positions
    (`placement.visiting_order`); the image is cut into cells at the window edges on the two outer axes, and
    each cell is normalised, argmax'ed and its float buffer freed right after the last window that covers it.
    The `C_out` float channels held at once are then about the band the next row of windows overlaps
    (`overlap · roi` deep) plus the row in progress, not the whole `C_out × H × W × D` volume (20% of it for
    256×256×160 and 96³ windows). Ties go to the lowest class index and NaN counts as the maximum, as
    `torch.argmax`; the labels equal the argmax of the plain output exactly.

    If blending on a GPU runs out of memory, the call is redone with the output on the CPU, and the inferer
    keeps blending there (one warning).

    >>> inferer = ScanWindowInferer(roi_size=(160, 160, 160), batch_size=3)
    >>> inferer.labels = True  # (N, 1, H, W, D) uint8 labels from here on
    """

    def __init__(
        self,
        roi_size: Sequence[int] | int,
        *,
        batch_size: int = 1,
        overlap: Sequence[float] | float = 0.25,
        blend_mode: str = "constant",
        sigma_scale: Sequence[float] | float = 0.125,
        padding_mode: str = "constant",
        device: torch.device | str | None = None,
        progress: bool = False,
        labels: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be a whole number of windows ≥ 1, not {batch_size!r}")
        if any(not 0 <= o < 1 for o in (overlap if isinstance(overlap, Sequence) else (overlap,))):
            raise ConfigError(f"overlap must be at least 0 and below 1, not {overlap!r}")
        self.roi_size = roi_size
        self.batch_size = batch_size
        self.overlap = overlap
        self.blend_mode = _option("blend_mode", blend_mode, BlendMode)
        self.sigma_scale = sigma_scale
        self.padding_mode = _option("padding_mode", padding_mode, PytorchPadMode)
        self.device = device
        self.progress = progress
        self.labels = labels

    def __call__(
        self, inputs: torch.Tensor, network: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> torch.Tensor:
        """Blended scores `(N, C_out, *spatial)`, or labels `(N, 1, *spatial)` when `self.labels`.

        Extra `args`/`kwargs` go to `network` with each batch of windows. Runs without gradients.
        """
        device = torch.device(self.device) if self.device is not None else inputs.device
        try:
            return self._infer(inputs, network, device, args, kwargs)
        except torch.cuda.OutOfMemoryError:
            if device.type == "cpu":
                raise
        warnings.warn(
            f"out of memory blending scanning-window outputs on {device}; blending on the CPU from now on",
            RuntimeWarning,
            stacklevel=2,
        )
        self.device = torch.device("cpu")
        return self._infer(inputs, network, self.device, args, kwargs)

    def _infer(
        self,
        inputs: torch.Tensor,
        network: Callable[..., Any],
        device: torch.device,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> torch.Tensor:
        image = inputs.as_tensor() if isinstance(inputs, MetaTensor) else inputs
        self._check_dimensions(image)
        plan = plan_windows(image.shape[2:], self.roi_size, self.overlap, cut=self.labels)
        if any(plan.pad):
            image = F.pad(image, list(plan.pad), mode=self.padding_mode)
        score_dtype = torch.promote_types(image.dtype, torch.float32)
        importance = None
        if self.blend_mode == BlendMode.GAUSSIAN:
            importance = compute_importance_map(
                plan.roi_size,
                mode=self.blend_mode,
                sigma_scale=self.sigma_scale,
                device=device,
                dtype=score_dtype,
            )
        window_device = _parameter_device(network) or image.device
        total = image.shape[0] * len(plan.windows)
        bar = tqdm(total=total, unit="window", desc="scanning windows", disable=not self.progress)
        result: torch.Tensor | None = None
        with torch.no_grad(), bar:
            for case in range(image.shape[0]):
                blender: CellBlender | None = None
                for first in range(0, len(plan.windows), self.batch_size):
                    batch = plan.windows[first : first + self.batch_size]
                    windows = torch.cat([image[(slice(case, case + 1), slice(None), *w)] for w in batch])
                    windows = windows.to(window_device)
                    scores = checked_scores(network(windows, *args, **kwargs), windows)
                    scores = scores.to(device=device, dtype=score_dtype)
                    if result is None:
                        result = self._allocate(
                            image, channels=scores.shape[1], device=device, dtype=score_dtype
                        )
                    if blender is None:
                        blender = CellBlender(plan, self._target(result[case], score_dtype), importance)
                    for offset, window_scores in enumerate(scores):
                        blender.add(first + offset, window_scores)
                    bar.update(len(batch))
        assert result is not None  # every plan has at least one window
        return as_input_type(result[(slice(None), slice(None), *plan.crop())], inputs)

    def _check_dimensions(self, image: torch.Tensor) -> None:
        spatial = image.ndim - 2
        if spatial not in (2, 3):
            raise ClaraError(f"inputs must be (N, C, H, W) or (N, C, H, W, D), not {tuple(image.shape)}")
        if isinstance(self.roi_size, Sequence) and len(self.roi_size) != spatial:
            raise ClaraError(
                f"roi_size {list(self.roi_size)} has {len(self.roi_size)} axes; the inputs "
                f"{tuple(image.shape)} have {spatial} spatial axes"
            )

    def _allocate(
        self, image: torch.Tensor, *, channels: int, device: torch.device, dtype: torch.dtype
    ) -> torch.Tensor:
        """The zeroed output over the padded image: scores `(N, C, ...)` or labels `(N, 1, ...)`."""
        if self.labels:
            return torch.zeros(
                (image.shape[0], 1, *image.shape[2:]), dtype=label_dtype(channels), device=device
            )
        return torch.zeros((image.shape[0], channels, *image.shape[2:]), dtype=dtype, device=device)

    def _target(self, case_result: torch.Tensor, score_dtype: torch.dtype) -> Target:
        return LabelTarget(case_result, score_dtype) if self.labels else ScoreTarget(case_result)


def _option(argument: str, value: str, choices: type[Enum]) -> str:
    accepted = [str(choice.value) for choice in choices]
    if value not in accepted:
        raise ConfigError(
            f"{argument} must be one of {', '.join(accepted)}, not {value!r}{did_you_mean(str(value), accepted)}"
        )
    return value


def _parameter_device(network: Callable[..., Any]) -> torch.device | None:
    """The device of a module's first parameter; None for a callable without parameters."""
    if isinstance(network, torch.nn.Module):
        for parameter in network.parameters():
            return parameter.device
    return None
