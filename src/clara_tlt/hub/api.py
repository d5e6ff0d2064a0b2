"""The three things `tlt-pull` does, as library functions: list models, list versions, pull one version.

    from clara_tlt.hub import RegistrySettings, pull
    settings = RegistrySettings(org="nvidia", team="med")
    result = pull(settings, "clara_pt_spleen_ct_segmentation", "1", dest="spleen")
    result["path"]  # an MMAR folder for `clara-tlt train -m`

A pull of a version already in the cache touches no network. `version=None` or "latest" asks the registry for
the latest version; when the registry cannot be reached, the latest version seen before is used from the
cache.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from clara_tlt.errors import DownloadError
from clara_tlt.hub.archive import extract_zip, is_mmar
from clara_tlt.hub.cache import Cache, CacheKey, materialize
from clara_tlt.hub.download import ChecksumError, check_free_space, fetch, partial_path
from clara_tlt.hub.http import HttpClient, HttpStatusError, RetryPolicy, check_address, redact
from clara_tlt.hub.index import IndexRegistry
from clara_tlt.hub.ngc import NgcRegistry
from clara_tlt.hub.progress import TransferProgress
from clara_tlt.hub.registry import (
    DEFAULT_AUTH_URL,
    DEFAULT_REGISTRY,
    LATEST,
    Payload,
    Registry,
    RemoteFile,
    check_name,
    is_index_location,
    version_key,
)

log = logging.getLogger("clara_tlt.hub")


@dataclass(frozen=True)
class RegistrySettings:
    """Where to pull from and with what. `api_key` is only ever sent to `auth_url`, never shown or stored;
    `allow_insecure_http` lets it travel over plain http:// to a host other than this machine."""

    registry: str = DEFAULT_REGISTRY
    auth_url: str = DEFAULT_AUTH_URL
    org: str = "nvidia"
    team: str | None = None
    api_key: str | None = field(default=None, repr=False)
    cache_dir: Path | None = None
    retry: RetryPolicy | None = None
    allow_insecure_http: bool = False


def open_registry(settings: RegistrySettings) -> Registry:
    """The client for `settings.registry`: a static index registry or NGC's API. No network traffic yet;
    addresses that would expose the API key are refused here (exit 2)."""
    client = HttpClient(settings.retry)
    if is_index_location(settings.registry):
        check_address(settings.registry, "--registry", carries_key=False)  # an index never gets the key
        return IndexRegistry(settings.registry, client)
    keyed = settings.api_key is not None
    for flag, url in (("--registry", settings.registry), ("--auth-url", settings.auth_url)):
        check_address(url, flag, carries_key=keyed, allow_insecure_http=settings.allow_insecure_http)
    return NgcRegistry(
        settings.registry, settings.auth_url, settings.org, settings.team, settings.api_key, client
    )


def _header(registry: Registry) -> dict[str, Any]:
    return {"registry": registry.location, "org": registry.org, "team": registry.team}


def list_models(settings: RegistrySettings) -> dict[str, Any]:
    """`{"registry", "org", "team", "models": [{"name", "description", "latest_version"}]}`."""
    registry = open_registry(settings)
    models = sorted(registry.list_models(), key=lambda m: m.name)
    return {**_header(registry), "models": [asdict(m) for m in models]}


def list_versions(settings: RegistrySettings, model: str) -> dict[str, Any]:
    """`{"registry", "org", "team", "model", "versions": [{"version", "created", "size"}]}`, newest first."""
    registry = open_registry(settings)
    versions = registry.list_versions(check_name("model", model))
    versions.sort(key=lambda v: (v.created or "", version_key(v.version)), reverse=True)
    return {**_header(registry), "model": model, "versions": [asdict(v) for v in versions]}


def pull(
    settings: RegistrySettings,
    model: str,
    version: str | None = None,
    *,
    dest: str | Path | None = None,
    link_mode: str = "copy",
    force: bool = False,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Download `model` at `version` into the cache (if not there yet) and place its files in `dest`.

    `link_mode`: how `dest` gets the files: "copy" (default), "hardlink" or "symlink" (into the cache).
    `progress`: True/False forces the tqdm bar on or off; None shows it when stderr is a terminal.
    Returns `{"model", "version", "path", "cache_path", "from_cache", "files", "size", "mmar", …}`.
    """
    registry = open_registry(settings)
    cache = Cache(settings.cache_dir)
    check_name("model", model)
    wanted = LATEST if version in (None, "", LATEST) else check_name("version", str(version))
    key = CacheKey(registry.identity, registry.org, registry.team, model, wanted)
    from_cache = wanted != LATEST and cache.lookup(key) is not None
    if not from_cache:
        key = CacheKey(key.registry, key.org, key.team, model, _resolve(registry, cache, key))
        with cache.lock(key):
            from_cache = cache.lookup(key) is not None
            if not from_cache:
                _download(registry, cache, key, progress)
    meta = cache.lookup(key) or {}
    folder = cache.version_dir(key)
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    path = folder
    if dest is not None:
        path = Path(dest)
        materialize(folder, path, mode=link_mode, force=force)
    return {
        **_header(registry),
        "model": model,
        "version": key.version,
        "path": str(path.resolve()),
        "cache_path": str(folder),
        "from_cache": from_cache,
        "files": files,
        "size": sum((folder / f).stat().st_size for f in files),
        "mmar": is_mmar(folder),
        "archive": bool(meta.get("archive")),
    }


def _resolve(registry: Registry, cache: Cache, key: CacheKey) -> str:
    """The version to pull: as asked, or the registry's latest (the cached latest when offline)."""
    if key.version != LATEST:
        return key.version
    try:
        latest = check_name("version", registry.latest_version(key.model))
    except HttpStatusError:
        raise
    except DownloadError as exc:
        cached = cache.cached_latest(key)
        if (
            cached is None
            or cache.lookup(CacheKey(key.registry, key.org, key.team, key.model, cached)) is None
        ):
            raise
        log.warning(
            "%s; using version %s of %s from the cache (the latest seen before)", exc, cached, key.model
        )
        return cached
    cache.remember_latest(CacheKey(key.registry, key.org, key.team, key.model, latest))
    return latest


def _download(registry: Registry, cache: Cache, key: CacheKey, show: bool | None) -> None:
    payload = registry.payload(key.model, key.version)
    staging = cache.staging_dir(key)
    extracted = staging.with_name(f".{key.version}.extract")
    sizes = [f.size for f in payload.files]
    have = sum(_partial_size(staging / f.path, f.url) for f in payload.files)
    check_free_space(staging.parent, sum(s or 0 for s in sizes) - have, f"{key.model} version {key.version}")
    total = sum(s or 0 for s in sizes) if all(s is not None for s in sizes) else None
    bar = TransferProgress(total, len(payload.files), terminal=show)
    started = time.monotonic()
    try:
        try:
            for file in payload.files:
                if not (staging / file.path).is_file():  # finished (and checked) by an interrupted run
                    _fetch(registry, file, staging / file.path, bar)
                bar.file_done()
        finally:
            bar.close()
        if payload.archive:
            shutil.rmtree(extracted, ignore_errors=True)
            extract_zip(staging / payload.files[0].path, extracted)
            shutil.rmtree(staging)
            staging = extracted
    except DownloadError as exc:
        archive_done = payload.archive and (staging / payload.files[0].path).is_file()
        if isinstance(exc, ChecksumError) or archive_done:  # bad content: keep nothing (a cut connection
            shutil.rmtree(staging, ignore_errors=True)  # keeps its .incomplete files for the next run)
        raise
    log.info(
        "Finished downloading version %s of %s in %.0fs.", key.version, key.model, time.monotonic() - started
    )
    cache.commit(key, staging, _meta(registry, key, payload))


def _fetch(registry: Registry, file: RemoteFile, target: Path, bar: TransferProgress) -> None:
    """Fetch one file; a 401 midway through a long pull (expired token) renews the token once."""
    try:
        fetch(file, target, client=registry.client, authorization=registry.authorization(), progress=bar)
    except HttpStatusError as exc:
        renewed = registry.authorization(renew=True) if exc.status == 401 else None
        if renewed is None:
            raise
        log.info("the registry token expired; signed in again")
        fetch(file, target, client=registry.client, authorization=renewed, progress=bar)


def _partial_size(target: Path, url: str) -> int:
    partial = partial_path(target, url)
    return partial.stat().st_size if partial.is_file() else target.stat().st_size if target.is_file() else 0


def _meta(registry: Registry, key: CacheKey, payload: Payload) -> dict[str, Any]:
    return {
        **_header(registry),
        "model": key.model,
        "version": key.version,
        "archive": payload.archive,
        "files": [
            {"path": f.path, "size": f.size, "sha256": f.sha256, "url": redact(f.url)} for f in payload.files
        ],
        "downloaded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
