"""Clara's `data_format` (networks, losses, aux ops) and `output_data_format` (image pipelines): the channel axis.

Network outputs, labels and segmentation batches are channels-first `(N, C, *spatial)` here, as MONAI's losses
and metrics take them. Only Clara's channels-last classifiers take `(N, *spatial, C)` inputs, made by the
classification pipeline; everything else refuses `channels_last` with the one message below.
"""

from __future__ import annotations

from clara_tlt.errors import ConfigError

CHANNELS_FIRST = "channels_first"
DATA_FORMATS = {CHANNELS_FIRST: 0, "channels_last": -1}  # Clara's name → a sample's channel axis


def channel_axis(data_format: str, *, key: str = "data_format") -> int:
    """The channel axis `data_format` names (0 or -1), or a ConfigError naming `key` and the known names."""
    if data_format not in DATA_FORMATS:
        raise ConfigError(f"{key} must be one of {', '.join(map(repr, DATA_FORMATS))}, got {data_format!r}")
    return DATA_FORMATS[data_format]


def channels_last_of(data_format: str) -> bool:
    """A network's `data_format`: whether it takes `(N, *spatial, C)` inputs."""
    return channel_axis(data_format) == -1


def refuse_channels_last(data_format: str, *, key: str = "data_format", by: str = "") -> None:
    """A ConfigError unless `data_format` is channels_first: what takes network outputs works channels-first."""
    if data_format != CHANNELS_FIRST:
        taker = f" by {by}" if by else ""
        raise ConfigError(
            f"{key} {data_format!r} cannot be honoured{taker}: network outputs, labels and batches are "
            'channels-first (N, C, *spatial) here, as the losses and metrics take them; use "channels_first" '
            f"(or remove {key})"
        )
