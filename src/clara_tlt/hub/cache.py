"""The model cache: one folder per registry/org/team/model/version, and copies or links of it for `-d DIR`.

Layout under the root (CLARA_TLT_CACHE, else $XDG_CACHE_HOME/clara_tlt, else ~/.cache/clara_tlt):
    models/{registry}/{org}/{team}/{model}/{version}/        the files (an extracted MMAR for zip versions)
    models/{registry}/{org}/{team}/{model}/{version}.json    written last: its presence means "complete"
    models/{registry}/{org}/{team}/{model}/.{version}.incomplete/   downloads in progress (resumed by a rerun)
    models/{registry}/{org}/{team}/{model}/latest.json       the latest version last seen online
No API key or token is ever written here.
"""

from __future__ import annotations

import contextlib
import filecmp
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clara_tlt.atomic import atomic_path, write_text_atomic
from clara_tlt.errors import UsageError

LINK_MODES = ("copy", "hardlink", "symlink")


def default_cache_dir() -> Path:
    if os.environ.get("CLARA_TLT_CACHE"):
        return Path(os.environ["CLARA_TLT_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "clara_tlt"


@dataclass(frozen=True)
class CacheKey:
    registry: str
    org: str
    team: str
    model: str
    version: str


class Cache:
    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()

    def model_dir(self, key: CacheKey) -> Path:
        return self.root / "models" / key.registry / key.org / key.team / key.model

    def version_dir(self, key: CacheKey) -> Path:
        return self.model_dir(key) / key.version

    def staging_dir(self, key: CacheKey) -> Path:
        return self.model_dir(key) / f".{key.version}.incomplete"

    def _meta_path(self, key: CacheKey) -> Path:
        return self.model_dir(key) / f"{key.version}.json"

    def lookup(self, key: CacheKey) -> dict[str, Any] | None:
        """The metadata of a complete cached version, or None."""
        meta, folder = self._meta_path(key), self.version_dir(key)
        if not (meta.is_file() and folder.is_dir()):
            return None
        try:
            data = json.loads(meta.read_text(encoding="utf-8"))
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    @contextlib.contextmanager
    def lock(self, key: CacheKey) -> Iterator[None]:
        """Hold this version's lock: a second process pulling the same version waits, then finds it cached."""
        folder = self.model_dir(key)
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / f".{key.version}.lock").open("a") as handle:
            try:
                import fcntl
            except ImportError:  # Windows: no advisory locks; concurrent pulls of one version are not guarded
                yield
                return
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def commit(self, key: CacheKey, staged: Path, meta: dict[str, Any]) -> Path:
        """Move the finished folder `staged` into place, then write the metadata that marks it complete."""
        final = self.version_dir(key)
        self._meta_path(key).unlink(missing_ok=True)
        if final.exists():  # left by a run that died between the rename and the metadata
            shutil.rmtree(final)
        os.replace(staged, final)
        write_text_atomic(self._meta_path(key), json.dumps(meta, indent=2) + "\n")
        return final

    def remember_latest(self, key: CacheKey) -> None:
        write_text_atomic(self.model_dir(key) / "latest.json", json.dumps({"version": key.version}) + "\n")

    def cached_latest(self, key: CacheKey) -> str | None:
        """The latest version last seen online for `key`'s model (key.version is ignored), when cached."""
        try:
            version = json.loads((self.model_dir(key) / "latest.json").read_text(encoding="utf-8"))["version"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return version if isinstance(version, str) else None


def _place(source: Path, target: Path, mode: str) -> None:
    with atomic_path(target) as tmp:
        if mode == "copy":
            shutil.copy2(source, tmp)
            return
        tmp.unlink()
        if mode == "symlink":
            tmp.symlink_to(source.resolve())
            return
        try:
            os.link(source, tmp)
        except OSError:  # another filesystem, or links not allowed: a copy is the next best thing
            shutil.copy2(source, tmp)


def materialize(source: Path, dest: Path, *, mode: str = "copy", force: bool = False) -> list[str]:
    """Put the files of the cached folder `source` into `dest` (copy, hard links or symbolic links).

    Files already in `dest` with the same content are left alone; different ones need `force`.
    Returns the relative paths placed.
    """
    if mode not in LINK_MODES:
        raise UsageError(f"unknown link mode {mode!r}; use one of {', '.join(LINK_MODES)}")
    files = sorted(p for p in source.rglob("*") if p.is_file())
    relative = [p.relative_to(source) for p in files]
    clashes = [
        str(r)
        for p, r in zip(files, relative, strict=True)
        if (dest / r).exists() and not (dest / r).is_dir() and not filecmp.cmp(p, dest / r, shallow=False)
    ]
    if clashes and not force:
        shown = ", ".join(clashes[:5]) + (f" and {len(clashes) - 5} more" if len(clashes) > 5 else "")
        raise UsageError(
            f"{dest} already holds different files: {shown}; pass --force to overwrite them "
            "or choose another -d"
        )
    for path, rel in zip(files, relative, strict=True):
        target = dest / rel
        unchanged = target.is_file() and not target.is_symlink() and filecmp.cmp(path, target, shallow=False)
        if mode != "copy" or not unchanged:
            _place(path, target, mode)
    return [str(r.as_posix()) for r in relative]
