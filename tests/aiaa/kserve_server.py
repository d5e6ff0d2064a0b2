"""A loopback KServe v2 HTTP server for tests: health, model metadata and config, infer with binary tensors.

It serves the ONNX models of a Triton model repository (`REPO/NAME/1/model.onnx` + `config.pbtxt`) with
onnxruntime, on 127.0.0.1 only, so Triton-served inference can be checked without `tritonserver`.

>>> with serve_repository(repo) as server:  # doctest: +SKIP
...     server.url, server.infer_requests
('127.0.0.1:40123', 0)
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime

HEADER_LENGTH = "Inference-Header-Content-Length"


@dataclass
class ServedModel:
    """One model: its onnxruntime session and `config.pbtxt`'s batch limit."""

    name: str
    session: onnxruntime.InferenceSession
    max_batch_size: int

    def metadata(self) -> dict[str, Any]:
        def tensors(items: list[Any]) -> list[dict[str, Any]]:
            return [
                {
                    "name": t.name,
                    "datatype": "FP32",
                    "shape": [d if isinstance(d, int) else -1 for d in t.shape],
                }
                for t in items
            ]

        return {
            "name": self.name,
            "versions": ["1"],
            "platform": "onnxruntime_onnx",
            "inputs": tensors(self.session.get_inputs()),
            "outputs": tensors(self.session.get_outputs()),
        }


@dataclass
class LoopbackServer:
    models: dict[str, ServedModel]
    url: str = ""
    infer_requests: int = 0
    batch_sizes: list[int] = field(default_factory=list)


def _handler(state: LoopbackServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

        def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for key, value in {"Content-Type": "application/json", **(headers or {})}.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _model(self, parts: list[str]) -> ServedModel | None:
            return state.models.get(parts[2]) if len(parts) > 2 and parts[:2] == ["v2", "models"] else None

        def do_GET(self) -> None:
            parts = [p for p in self.path.split("?")[0].split("/") if p]
            if parts[:2] == ["v2", "health"]:
                return self._reply(200)
            model = self._model(parts)
            if model is None:
                return self._reply(400, json.dumps({"error": f"unknown model {parts[2:3]}"}).encode())
            tail = [p for p in parts[3:] if p not in ("versions", "1")]
            if tail == ["ready"]:
                return self._reply(200)
            if tail == ["config"]:
                return self._reply(
                    200, json.dumps({"name": model.name, "max_batch_size": model.max_batch_size}).encode()
                )
            return self._reply(200, json.dumps(model.metadata()).encode())

        def do_POST(self) -> None:
            parts = [p for p in self.path.split("?")[0].split("/") if p]
            model = self._model(parts)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if model is None or parts[-1] != "infer":
                return self._reply(400, b'{"error": "not found"}')
            length = int(self.headers.get(HEADER_LENGTH, len(body)))
            request, data = json.loads(body[:length]), body[length:]
            first = request["inputs"][0]
            array = np.frombuffer(data[: first["parameters"]["binary_data_size"]], dtype=np.float32)
            array = array.reshape(first["shape"])
            state.infer_requests += 1
            state.batch_sizes.append(int(array.shape[0]))
            output = model.session.run(None, {first["name"]: array})[0].astype(np.float32)
            name = model.session.get_outputs()[0].name
            raw = output.tobytes()
            header = json.dumps(
                {
                    "model_name": model.name,
                    "outputs": [
                        {
                            "name": name,
                            "datatype": "FP32",
                            "shape": list(output.shape),
                            "parameters": {"binary_data_size": len(raw)},
                        }
                    ],
                }
            ).encode()
            self._reply(
                200,
                header + raw,
                {HEADER_LENGTH: str(len(header)), "Content-Type": "application/octet-stream"},
            )

    return Handler


@contextmanager
def serve_repository(repo: Path) -> Iterator[LoopbackServer]:
    """Serve every `REPO/NAME/1/model.onnx` on 127.0.0.1 (a free port) while the block runs."""
    models = {}
    for onnx_file in sorted(repo.glob("*/1/model.onnx")):
        name = onnx_file.parent.parent.name
        config = (onnx_file.parent.parent / "config.pbtxt").read_text()
        found = re.search(r"max_batch_size:\s*(\d+)", config)
        session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
        models[name] = ServedModel(name, session, int(found.group(1)) if found else 0)
    state = LoopbackServer(models)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
