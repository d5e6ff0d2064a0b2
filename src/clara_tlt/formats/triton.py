"""A Triton-served model: a network stand-in whose forward sends each window batch to a Triton server.

`TritonModel` speaks the KServe v2 protocol through the `tritonclient` package (HTTP or gRPC). It waits for
the server and the model to be ready (at most `ready_timeout` seconds) and fails with the URL when they are
not; it reads the input and output tensor names from the model's metadata and splits batches larger than
the model's `max_batch_size`. The `TRTISScanWindowInferer` and AIAA's TRTIS inference both use it; hand it
to `ScanWindowInferer` as the network:

>>> model = TritonModel("localhost:8000", "spleen")  # doctest: +SKIP
>>> labels = ScanWindowInferer(roi_size=(160, 160, 160))(image, model)  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import logging
import os
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from clara_tlt.errors import ClaraError, ConfigError

log = logging.getLogger(__name__)

URI_VARIABLE = "NVIDIA_CLARA_TRTISURI"  # what Clara Deploy sets to the server's host:port
PROTOCOLS = {"http": "tritonclient.http", "grpc": "tritonclient.grpc"}
DEFAULT_PORTS = {"http": 8000, "grpc": 8001}
READY_TIMEOUT_S = 10.0
POLL_S = 0.5


def server_url(args: Mapping[str, Any]) -> str:
    """`NVIDIA_CLARA_TRTISURI` when set (as Clara Deploy launches operators), else `ip:port` of the args."""
    protocol = protocol_of(args)
    from_env = os.environ.get(URI_VARIABLE)
    if from_env:
        return from_env.split("://")[-1]
    return f"{args.get('ip', 'localhost')}:{args.get('port', DEFAULT_PORTS[protocol])}"


def protocol_of(args: Mapping[str, Any]) -> str:
    protocol = str(args.get("protocol", "HTTP")).lower()
    if protocol not in PROTOCOLS:
        raise ConfigError(f"protocol must be HTTP or gRPC, not {args.get('protocol')!r}")
    return protocol


def client_module(protocol: str) -> Any:
    """`tritonclient.http` / `.grpc`; missing: a ConfigError (exit 3) with the install command."""
    try:
        return importlib.import_module(PROTOCOLS[protocol])
    except (ImportError, RuntimeError) as exc:  # tritonclient raises RuntimeError when the extra is missing
        raise ConfigError(
            f"Triton inference over {protocol.upper()} needs the package 'tritonclient[{protocol}]'; install it "
            f"with `pip install 'tritonclient[{protocol}]'`"
        ) from exc


class TritonModel(nn.Module):
    """`(N, C_in, *spatial)` → `(N, C_out, *spatial)` computed by model `model_name` on the server at `url`.

    `input_name`/`output_name` default to the model metadata's first input and output.
    """

    def __init__(
        self,
        url: str,
        model_name: str,
        *,
        protocol: str = "http",
        ready_timeout: float = READY_TIMEOUT_S,
        input_name: str | None = None,
        output_name: str | None = None,
    ) -> None:
        super().__init__()
        self.url, self.model_name, self.protocol = url, model_name, protocol.lower()
        self.module = client_module(self.protocol)
        self.client = self.module.InferenceServerClient(url=url)
        self._wait_ready(ready_timeout)
        metadata = self._as_dict(self.client.get_model_metadata(model_name))
        inputs, outputs = metadata.get("inputs") or [], metadata.get("outputs") or []
        self.input_name = input_name or inputs[0]["name"]
        self.output_name = output_name or outputs[0]["name"]
        self.input_shape = [int(d) for d in (inputs[0].get("shape") or [])] if inputs else []
        config = self._as_dict(self.client.get_model_config(model_name))
        self.max_batch_size = int(config.get("config", config).get("max_batch_size", 0) or 0)

    def _as_dict(self, reply: Any) -> dict[str, Any]:
        """HTTP replies are dicts already; gRPC replies are protobuf messages."""
        if isinstance(reply, dict):
            return reply
        from google.protobuf.json_format import MessageToDict

        return MessageToDict(reply, preserving_proto_field_name=True)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        problem = "no answer"
        while True:
            try:
                if self.client.is_server_ready() and self.client.is_model_ready(self.model_name):
                    return
                problem = f"model '{self.model_name}' is not ready"
            except Exception as error:  # connection refused, DNS, timeouts: retried until the deadline
                problem = str(error) or type(error).__name__
            if time.monotonic() >= deadline:
                raise ClaraError(
                    f"Triton server at {self.protocol}://{self.url} is not ready after {timeout:g} s "
                    f"({problem}); start it (docs/deploy.md) or set {URI_VARIABLE} / ip and port"
                )
            time.sleep(POLL_S)

    def window_roi(self) -> list[int] | None:
        """The model's fixed spatial input size (metadata shape without batch and channel), None if dynamic."""
        spatial = self.input_shape[2:] if self.max_batch_size else self.input_shape[1:]
        return spatial if spatial and all(d > 0 for d in spatial) else None

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        array = inputs.detach().float().cpu().numpy()
        step = self.max_batch_size or len(array)
        parts = [self._infer(array[i : i + step]) for i in range(0, len(array), step)]
        return torch.from_numpy(np.concatenate(parts)).to(inputs.device)

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        tensor = self.module.InferInput(self.input_name, list(batch.shape), "FP32")
        requested = self.module.InferRequestedOutput(self.output_name)
        if self.protocol == "http":
            tensor.set_data_from_numpy(np.ascontiguousarray(batch), binary_data=True)
            requested = self.module.InferRequestedOutput(self.output_name, binary_data=True)
        else:
            tensor.set_data_from_numpy(np.ascontiguousarray(batch))
        result = self.client.infer(self.model_name, inputs=[tensor], outputs=[requested])
        return np.asarray(result.as_numpy(self.output_name), dtype=np.float32)

    def close(self) -> None:
        self.client.close()


def triton_model(args: Mapping[str, Any], **names: str | None) -> TritonModel:
    """The `TritonModel` that Clara's TRTIS inferer/inference arguments (`model_name`, `ip`, `port`, `protocol`)
    name; `names` may give `input_name`/`output_name`."""
    if not args.get("model_name"):
        raise ConfigError("Triton inference needs 'model_name' (the model's folder in the Triton repository)")
    return TritonModel(
        server_url(args),
        str(args["model_name"]),
        protocol=protocol_of(args),
        ready_timeout=float(args.get("ready_timeout", READY_TIMEOUT_S)),
        **names,
    )
