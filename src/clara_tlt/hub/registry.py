"""What every registry client gives: models, versions and the files of a version; and choosing a client.

Two kinds of registry: NGC's v2 model API (`ngc.py`) and a static `index.json` registry in a folder or on any
HTTP(S) server (`index.py`), for hospitals without internet access.
"""

from __future__ import annotations

import hashlib
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

from clara_tlt.config.suggest import did_you_mean
from clara_tlt.errors import DownloadError, UsageError
from clara_tlt.hub.http import HttpClient, redact

DEFAULT_REGISTRY = "https://api.ngc.nvidia.com"
DEFAULT_AUTH_URL = "https://authn.nvidia.com"
LATEST = "latest"
_NAME = re.compile(r"^[A-Za-z0-9_+-][A-Za-z0-9_.+-]*$")


@dataclass(frozen=True)
class ModelInfo:
    name: str
    description: str = ""
    latest_version: str | None = None


@dataclass(frozen=True)
class VersionInfo:
    version: str
    created: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class RemoteFile:
    """One file of a version: where it is (`url`), where it goes (`path`), what to check (size, sha256)."""

    path: str
    url: str
    size: int | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class Payload:
    """The files of one version. `archive=True`: the single file is a zip of the whole version, to extract."""

    files: list[RemoteFile]
    archive: bool = False


class Registry(Protocol):
    """A model registry. `identity` names it in the cache, `location` is its address and `where` says it in
    messages (none of them holds a key or password)."""

    identity: str
    location: str
    where: str
    org: str
    team: str
    client: HttpClient

    def authorization(self, renew: bool = False) -> str | None: ...

    def list_models(self) -> list[ModelInfo]: ...

    def list_versions(self, model: str) -> list[VersionInfo]: ...

    def latest_version(self, model: str) -> str: ...

    def payload(self, model: str, version: str) -> Payload: ...


def check_name(kind: str, value: str) -> str:
    """Model and version names become cache folder names: refuse anything that could leave the folder."""
    if not _NAME.match(value) or len(value) > 200:
        raise UsageError(
            f"{kind} {value!r} is not a valid name: use letters, digits and . _ - + only "
            "(e.g. clara_pt_spleen_ct_segmentation)"
        )
    return value


def safe_relative(path: str, context: str) -> str:
    """`path` as a clean relative POSIX path; refuse absolute paths, `..`, drive letters and backslashes."""
    pure = PurePosixPath(path)
    if (
        not path
        or "\\" in path
        or "\x00" in path
        or pure.is_absolute()
        or any(part == ".." for part in pure.parts)
        or re.match(r"^[A-Za-z]:", path)
    ):
        raise DownloadError(
            f"{context}: refusing file path {path!r}: it would land outside the model folder "
            "(path traversal); the registry content is unsafe, tell its maintainer"
        )
    return str(pure)


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key where "2" < "10" and "1.9" < "1.10"; numeric parts before text parts."""
    parts = re.findall(r"\d+|[A-Za-z]+", version)
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts)


def pick_latest(versions: list[str]) -> str:
    return max(versions, key=lambda v: (version_key(v), v))


def registry_identity(location: str) -> str:
    """A readable, collision-free folder name for a registry location (its user:password part removed)."""
    shown = redact(location)
    parts = urllib.parse.urlsplit(shown)
    readable = (
        re.sub(r"[^A-Za-z0-9.-]+", "_", (parts.netloc + parts.path).strip("/"))[:60].strip("_") or "local"
    )
    return f"{readable}-{hashlib.sha256(shown.encode()).hexdigest()[:8]}"


def unknown_version(model: str, version: str, versions: list[str]) -> UsageError:
    listed = ", ".join(sorted(versions, key=version_key)) or "none"
    return UsageError(
        f"model {model!r} has no version {version!r}{did_you_mean(version, versions)} (versions: {listed}); "
        f"list them with -lv -m {model}"
    )


def unknown_model(model: str, names: list[str], where: str, *, scoped: bool = True) -> UsageError:
    scope = " (and check -o ORG / -t TEAM)" if scoped else ""
    return UsageError(
        f"no model {model!r} in {where}{did_you_mean(model, names)}; list the models with -lm{scope}"
    )


def is_index_location(registry: str) -> bool:
    """`file://…`, a local path, or an HTTP(S) URL ending in index.json mean a static index registry."""
    parts = urllib.parse.urlsplit(registry)
    if parts.scheme in ("http", "https"):
        return parts.path.endswith("index.json")
    return True


def local_path(registry: str) -> Path | None:
    """The folder or file a `file://` URL or plain path names; None for HTTP(S)."""
    parts = urllib.parse.urlsplit(registry)
    if parts.scheme == "file":
        return Path(urllib.parse.unquote(parts.path))
    if parts.scheme in ("http", "https"):
        return None
    if parts.scheme and len(parts.scheme) > 1:
        raise UsageError(
            f"--registry {redact(registry)!r}: unsupported scheme {parts.scheme!r}; use https://…, http://…, "
            "file:///folder or a folder path"
        )
    return Path(registry)
