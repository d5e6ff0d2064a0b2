"""A static registry: `index.json` and files at `{base}/{NAME}/{VERSION}/{path}`, in a folder or on a server.

index.json:
    {"models": {"spleen_ct": {"description": "…", "latest": "2",            # "latest" is optional
                              "versions": {"1": {"createdDate": "…",         # optional
                                                 "files": [{"path": "config/config_train.json",
                                                            "size": 1234, "sha256": "…"}]}}}}}
A version whose only file is a `.zip` is an archive of the whole version (an MMAR) and is extracted.
"""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any

from clara_tlt.errors import ConfigError, DownloadError
from clara_tlt.hub.http import HttpClient, redact
from clara_tlt.hub.registry import (
    ModelInfo,
    Payload,
    RemoteFile,
    VersionInfo,
    local_path,
    pick_latest,
    registry_identity,
    safe_relative,
    unknown_model,
    unknown_version,
)


class IndexRegistry:
    """Client of a static index registry. `location`: a folder, `file:///folder[/index.json]` or `https://…/index.json`."""

    org = "-"
    team = "-"

    def __init__(self, location: str, client: HttpClient) -> None:
        self.client = client
        folder = local_path(location)
        if folder is not None:
            index_file = folder if folder.name == "index.json" else folder / "index.json"
            self.index_url = index_file.resolve().as_uri()
            self._local: Path | None = index_file
        else:
            self.index_url = location
            self._local = None
        self.base = self.index_url.rsplit("/", 1)[0]
        self.identity = registry_identity(self.index_url)
        self.where = self.location = redact(self.index_url)
        self._models: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"IndexRegistry({self.where!r})"

    def _index(self) -> dict[str, Any]:
        if self._models is None:
            if self._local is not None:
                if not self._local.is_file():
                    raise DownloadError(
                        f"no index.json at {self._local}; --registry must name a folder holding index.json "
                        "(see docs/pull.md, 'Running a private registry')"
                    )
                try:
                    data = json.loads(self._local.read_text(encoding="utf-8"))
                except ValueError as exc:
                    raise ConfigError(f"not valid JSON: {exc}", file=str(self._local)) from None
            else:
                data = self.client.get_json(self.index_url, what="reading the registry index")
            models = data.get("models") if isinstance(data, dict) else None
            if not isinstance(models, dict):
                raise ConfigError('expected {"models": {NAME: {...}}} at the top level', file=self.where)
            self._models = models
        return self._models

    def _entry(self, model: str) -> dict[str, Any]:
        models = self._index()
        entry = models.get(model)
        if entry is None:
            raise unknown_model(model, list(models), self.where, scoped=False)
        if not isinstance(entry, dict) or not isinstance(entry.get("versions"), dict):
            raise ConfigError(
                'expected {"description": …, "versions": {VERSION: {"files": […]}}}',
                file=self.where,
                key_path=f"models.{model}",
            )
        return entry

    def authorization(self, renew: bool = False) -> str | None:
        return None  # index registries are read anonymously: an NGC key must not travel to them

    def list_models(self) -> list[ModelInfo]:
        return [
            ModelInfo(name, str(entry.get("description") or ""), self._latest(name))
            for name, entry in sorted(self._index().items())
            if isinstance(entry, dict)
        ]

    def _latest(self, model: str) -> str | None:
        entry = self._entry(model)
        versions = list(entry["versions"])
        latest = entry.get("latest")
        if latest is not None and str(latest) in versions:
            return str(latest)
        return pick_latest(versions) if versions else None

    def latest_version(self, model: str) -> str:
        latest = self._latest(model)
        if latest is None:
            raise DownloadError(f"model {model!r} has no versions in {self.where}; nothing to download")
        return latest

    def list_versions(self, model: str) -> list[VersionInfo]:
        versions = []
        for version, spec in self._entry(model)["versions"].items():
            files = spec.get("files") if isinstance(spec, dict) else None
            sizes = [f.get("size") for f in files or [] if isinstance(f, dict)]
            known = [s for s in sizes if isinstance(s, int)]
            total = sum(known) if sizes and len(known) == len(sizes) else None
            created = spec.get("createdDate") if isinstance(spec, dict) else None
            versions.append(VersionInfo(str(version), created, total))
        return versions

    def payload(self, model: str, version: str) -> Payload:
        versions = self._entry(model)["versions"]
        if version not in versions:
            raise unknown_version(model, version, list(versions))
        spec = versions[version]
        files = spec.get("files") if isinstance(spec, dict) else None
        key_path = f"models.{model}.versions.{version}.files"
        if not isinstance(files, list) or not files:
            raise ConfigError(
                'expected a non-empty list of {"path", "size", "sha256"}', file=self.where, key_path=key_path
            )
        remote = []
        for number, entry in enumerate(files):
            if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
                raise ConfigError(
                    'expected {"path": …, "size": …, "sha256": …}',
                    file=self.where,
                    key_path=f"{key_path}[{number}]",
                )
            path = safe_relative(entry["path"], f"{self.where}: {key_path}[{number}]")
            url = "/".join(
                [self.base, *(urllib.parse.quote(p) for p in (model, version)), urllib.parse.quote(path)]
            )
            size = entry.get("size")
            remote.append(
                RemoteFile(path, url, size if isinstance(size, int) else None, entry.get("sha256") or None)
            )
        archive = len(remote) == 1 and remote[0].path.lower().endswith(".zip")
        return Payload(remote, archive=archive)
