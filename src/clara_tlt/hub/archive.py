"""Extract a downloaded zip (an MMAR) safely: every member must stay inside the target folder.

Refused, before anything is written: absolute names, `..`, drive letters, backslashes, symbolic links, and
archives larger than the free disk. CRCs are checked while reading. A zip whose members all sit under one
top-level folder holding `config/` is unwrapped, so the target itself is the MMAR root that
`clara-tlt train -m`, `infer -m` and `export -m` take.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from clara_tlt.errors import DownloadError
from clara_tlt.hub.download import check_free_space
from clara_tlt.hub.registry import safe_relative

MMAR_MARKERS = ("config", "models")


def _members(archive: zipfile.ZipFile, name: str) -> list[tuple[zipfile.ZipInfo, str]]:
    members = []
    for info in archive.infolist():
        if stat.S_ISLNK(info.external_attr >> 16):
            raise DownloadError(
                f"{name}: refusing symbolic link {info.filename!r} in the archive (it could point outside "
                "the model folder); the archive is unsafe, tell the registry's maintainer"
            )
        relative = safe_relative(info.filename.rstrip("/") or ".", f"{name}: zip member (zip-slip)")
        members.append((info, relative))
    return members


def _wrapper(members: list[tuple[zipfile.ZipInfo, str]]) -> str | None:
    """The one top-level folder every member sits under, if it holds `config/` (an MMAR in a folder)."""
    tops = {PurePosixPath(relative).parts[0] for _, relative in members if relative != "."}
    if len(tops) != 1:
        return None
    top = next(iter(tops))
    if not any(PurePosixPath(r).parts[:2] == (top, "config") for _, r in members):
        return None
    if any(relative == top and not info.is_dir() for info, relative in members):
        return None
    return top


def extract_zip(archive_path: Path, target: Path) -> Path:
    """Extract `archive_path` into the new folder `target` (which must not exist); return `target`."""
    name = archive_path.name
    if target.exists():
        raise FileExistsError(f"extraction target {target} exists")
    try:
        with zipfile.ZipFile(archive_path) as archive:
            members = _members(archive, name)
            check_free_space(target.parent, sum(info.file_size for info, _ in members), f"extracting {name}")
            strip = _wrapper(members)
            target.mkdir(parents=True)
            root = target.resolve()
            for info, relative in members:
                parts = PurePosixPath(relative).parts
                if strip is not None:
                    parts = parts[1:]
                if not parts or parts == (".",):
                    continue
                destination = root.joinpath(*parts)
                if root not in destination.resolve().parents:
                    raise DownloadError(
                        f"{name}: refusing zip member {info.filename!r}: it escapes the target folder"
                    )
                if info.is_dir():
                    destination.mkdir(parents=True, exist_ok=True)
                    continue
                destination.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as source, destination.open("wb") as out:
                    shutil.copyfileobj(source, out, 1 << 20)
    except zipfile.BadZipFile as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise DownloadError(
            f"{name}: not a valid zip archive ({exc}); the download is damaged, pull again"
        ) from None
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return target


def is_mmar(folder: Path) -> bool:
    """True when `folder` looks like an MMAR root (a `config/` folder)."""
    return (folder / MMAR_MARKERS[0]).is_dir()
