"""A loopback registry for the pull tests: NGC's v2 model API subset, its token service, and a static index.

The server listens on 127.0.0.1 on a free port, answers from memory, records every request, and stops at the
end of the test (or after WATCHDOG_S seconds, whichever comes first). Faults are switched on per test:
`fail_500` (next N requests answer 500), `cut_once` (send half a file, then drop the connection),
`ignore_range`, `corrupt` (serve other bytes than the listed sha256).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import socket
import threading
import urllib.parse
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

API_KEY = "nvapi-SECRET-Key-5f3a9c0d7e21"
TOKEN = "bearer-token-8d1e"
ORG, TEAM = "nvidia", "med"
WATCHDOG_S = 60.0
PAGE_SIZE = 2


def make_zip(members: dict[str, bytes]) -> bytes:
    """The same members give the same bytes: a fixed date on each entry (`writestr` of a bare name stamps the
    current time, so an index's sha256 and the zip served a second later could differ under load)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(
                zipfile.ZipInfo(name, date_time=(2021, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED
            )
    return buffer.getvalue()


MMAR_FILES = {
    "config/config_train.json": b'{"epochs": 2, "train": {}}\n',
    "config/environment.json": b'{"MMAR_CKPT_DIR": "models"}\n',
    "models/model.pt": bytes(range(256)) * 1200,  # 300 KiB: big enough to cut in the middle
}


@dataclass
class Model:
    description: str
    versions: dict[str, dict[str, bytes]]
    created: dict[str, str] = field(default_factory=dict)
    zip_only: bool = False  # no file listing: the client must fall back to /zip
    private: bool = False  # needs the bearer token


def catalogue() -> dict[str, Model]:
    spleen_v1 = {**MMAR_FILES, "models/model.pt": b"old weights" * 1000}
    return {
        "clara_pt_spleen_ct_segmentation": Model(
            "Spleen segmentation MMAR",
            {"1": spleen_v1, "2": dict(MMAR_FILES)},
            {"1": "2021-01-01T00:00:00.000Z", "2": "2021-06-01T00:00:00.000Z"},
        ),
        "clara_pt_liver_and_tumor_ct_segmentation": Model(
            "Liver MMAR as one zip",
            {"1": {f"liver_mmar/{k}": v for k, v in MMAR_FILES.items()}},
            zip_only=True,
        ),
        "clara_pt_private_model": Model(
            "Needs a key", {"3": {"weights.bin": b"private" * 100}}, private=True
        ),
        "evil_model": Model(
            "zip-slip", {"1": {"../../escaped.txt": b"gotcha", "ok.txt": b"ok"}}, zip_only=True
        ),
        "annotation_spleen": Model("AIAA annotation model", {"1": {"model.ts": b"ts" * 500}}),
    }


class Registry:
    """What the server serves, the faults it injects, and the requests it saw."""

    def __init__(self) -> None:
        self.models = catalogue()
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.fail_500 = 0
        self.cut_once: set[str] = set()
        self.ignore_range = False
        self.fail_after_cut = 0  # answer 500 to this many requests after a cut (a failed resume)
        self.corrupt: set[str] = set()
        self.redirect_files = False  # answer file GETs with 302 to /storage/… (as NGC does, to signed URLs)
        self.storage: dict[str, bytes] = {}
        self.valid_tokens: set[str] = set()
        self.tokens_issued = 0
        self.expire_tokens_after_files: int | None = None  # tokens stop working after N file downloads
        self.lock = threading.Lock()
        self.url = ""

    @property
    def api(self) -> str:
        return f"{self.url}/api"

    @property
    def auth(self) -> str:
        return f"{self.url}/auth"

    @property
    def index_url(self) -> str:
        return f"{self.url}/index/index.json"

    def index(self) -> dict[str, object]:
        """The static index of the same catalogue (zip-only models as one MMAR zip file)."""
        models: dict[str, object] = {}
        for name, model in self.models.items():
            versions = {}
            for version, files in model.versions.items():
                listed = {f"{name}.zip": make_zip(files)} if model.zip_only else files
                versions[version] = {
                    "files": [
                        {"path": p, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()}
                        for p, d in listed.items()
                    ]
                }
            models[name] = {"description": model.description, "versions": versions}
        return {"models": models}

    def write_index_folder(self, folder: Path) -> Path:
        """The same index registry as a folder (for file:// tests)."""
        index = self.index()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "index.json").write_text(json.dumps(index))
        for name, model in self.models.items():
            for version, files in model.versions.items():
                listed = {f"{name}.zip": make_zip(files)} if model.zip_only else files
                for path, data in listed.items():
                    target = folder / name / version / path
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(data)
        return folder

    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]


class Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 10

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    # -- plumbing ---------------------------------------------------------------------------------------
    def _send(
        self, status: int, body: bytes, content_type: str = "application/json", headers: dict | None = None
    ):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: object) -> None:
        self._send(status, json.dumps(payload).encode())

    def _bytes(self, data: bytes, key: str) -> None:
        registry = self.server.registry
        if key in registry.corrupt:
            data = data[:-1] + bytes([data[-1] ^ 0xFF])
        match = re.match(r"bytes=(\d+)-$", self.headers.get("Range", ""))
        if match and not registry.ignore_range:
            start = int(match.group(1))
            if start >= len(data):
                return self._send(416, b"", headers={"Content-Range": f"bytes */{len(data)}"})
            body = data[start:]
            status, extra = 206, {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"}
        else:
            body, status, extra = data, 200, {}
        with registry.lock:
            cut = key in registry.cut_once
            registry.cut_once.discard(key)
            if cut:
                registry.fail_500 = registry.fail_after_cut
        if not cut:
            return self._send(status, body, "application/octet-stream", extra)
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True

    def _authorized(self, model: Model | None) -> bool:
        given = self.headers.get("Authorization")
        if given is None:
            return not (model and model.private)
        return given.removeprefix("Bearer ") in self.server.registry.valid_tokens

    # -- routes -----------------------------------------------------------------------------------------
    def do_GET(self) -> None:
        registry = self.server.registry
        url = urllib.parse.urlsplit(self.path)
        path, query = urllib.parse.unquote(url.path), urllib.parse.parse_qs(url.query)
        registry.requests.append((self.path, dict(self.headers.items())))
        with registry.lock:
            if registry.fail_500 > 0:
                registry.fail_500 -= 1
                return self._json(500, {"error": "injected"})
        if path == "/auth/token":
            return self._token(query)
        if path.startswith("/storage/"):
            key = path.removeprefix("/storage/")
            return self._bytes(registry.storage[key], key) if key in registry.storage else self._json(404, {})
        if path.startswith("/index/"):
            return self._index(path.removeprefix("/index/"))
        if path.startswith("/api/v2/"):
            return self._api(path.removeprefix("/api/v2/"), query)
        self._json(404, {"error": "no route"})

    def _token(self, query: dict[str, list[str]]) -> None:
        expected = "Basic " + base64.b64encode(f"$oauthtoken:{API_KEY}".encode()).decode()
        if query.get("service") != ["ngc"] or query.get("scope") != [f"group/ngc:{ORG}"]:
            return self._json(400, {"error": "bad scope"})
        if self.headers.get("Authorization") != expected:
            return self._json(401, {"error": "bad key"})
        registry = self.server.registry
        registry.tokens_issued += 1
        token = f"{TOKEN}-{registry.tokens_issued}"
        registry.valid_tokens = {token}
        self._json(200, {"token": token, "expires_in": 300})

    def _index(self, rest: str) -> None:
        registry = self.server.registry
        if rest == "index.json":
            return self._json(200, registry.index())
        name, version, file_path = [*rest.split("/", 2), "", ""][:3]
        model = registry.models.get(name)
        files = model.versions.get(version) if model else None
        if model and files is not None and model.zip_only and file_path == f"{name}.zip":
            return self._bytes(make_zip(files), rest)
        if files is None or file_path not in files:
            return self._json(404, {"error": "no such file"})
        self._bytes(files[file_path], rest)

    def _api(self, rest: str, query: dict[str, list[str]]) -> None:
        registry = self.server.registry
        listing = re.fullmatch(rf"org/{ORG}(?:/team/{TEAM})?/models", rest)
        if listing:
            if not self._authorized(None):
                return self._json(401, {"error": "bad token"})
            page = int(query.get("page-number", ["0"])[0])
            names = sorted(registry.models)
            chunk = names[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
            models = [self._model_json(n) for n in chunk]
            pages = -(-len(names) // PAGE_SIZE)
            return self._json(200, {"models": models, "paginationInfo": {"totalPages": pages, "index": page}})
        match = re.fullmatch(rf"models/{ORG}(?:/{TEAM})?/([^/]+)(/.*)?", rest)
        if not match:
            return self._json(404, {"error": "no route"})
        name, tail = match.group(1), match.group(2) or ""
        model = registry.models.get(name)
        if model is None:
            return self._json(404, {"error": f"model {name} not found"})
        if not self._authorized(model):
            return self._json(401, {"error": "unauthorized"})
        if tail == "":
            return self._json(200, {"model": self._model_json(name)})
        if tail == "/versions":
            versions = [
                {
                    "versionId": v,
                    "createdDate": model.created.get(v, "2021-01-01T00:00:00.000Z"),
                    "totalSizeInBytes": sum(len(d) for d in files.values()),
                    "status": "UPLOAD_COMPLETE",
                }
                for v, files in model.versions.items()
            ]
            return self._json(200, {"modelVersions": versions})
        match = re.fullmatch(r"/versions/([^/]+)/(files|zip)(?:/(.*))?", tail)
        files = model.versions.get(match.group(1)) if match else None
        if match is None or files is None:
            return self._json(404, {"error": "no such version"})
        kind, file_path = match.group(2), match.group(3)
        if kind == "zip":
            return self._bytes(make_zip(files), f"{name}/{match.group(1)}/zip")
        if model.zip_only:
            return self._json(404, {"error": "no file listing"})
        if file_path is None:
            listed = [
                {"path": p, "sizeInBytes": len(d), "sha256": hashlib.sha256(d).hexdigest()}
                for p, d in files.items()
            ]
            return self._json(200, {"modelFiles": listed})
        if file_path not in files:
            return self._json(404, {"error": "no such file"})
        key = f"{name}/{match.group(1)}/{file_path}"
        if registry.expire_tokens_after_files is not None:
            registry.expire_tokens_after_files -= 1
            if registry.expire_tokens_after_files < 0:
                registry.expire_tokens_after_files = None  # once
                registry.valid_tokens.clear()
                return self._json(401, {"error": "token expired"})
        if registry.redirect_files:
            registry.storage[key] = files[file_path]
            return self._send(302, b"", headers={"Location": f"{registry.url}/storage/{key}"})
        self._bytes(files[file_path], key)

    def _model_json(self, name: str) -> dict[str, object]:
        model = self.server.registry.models[name]
        latest = max(model.versions, key=int)
        return {"name": name, "description": model.description, "latestVersionIdStr": latest, "orgName": ORG}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    registry: Registry
