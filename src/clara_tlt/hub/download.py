"""One file from a registry to disk: streamed into a `.incomplete` file, resumed, checked, renamed into place.

A cut connection is retried with `Range: bytes=N-` from the bytes already on disk (also by a later run, since
the `.incomplete` name is derived from the file's address). A server that ignores Range answers 200 with the
whole file: we start that file over. A failed write (a full disk) is no network trouble: it fails at once,
keeping the bytes so far for a rerun. Size and sha256 are checked when the registry gives them; a file that
fails the check is deleted, never moved into place.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import urllib.parse
import urllib.request
from pathlib import Path
from typing import IO, Protocol, cast

from clara_tlt.atomic import write_failure
from clara_tlt.errors import DownloadError, WriteError
from clara_tlt.hub.http import HttpClient, HttpStatusError, TransientError, redact
from clara_tlt.hub.registry import RemoteFile

CHUNK = 1 << 20
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class ChecksumError(DownloadError):
    """A downloaded file's size or sha256 differs from what the registry says; the file was deleted."""


class _StartOver(TransientError):
    """The server cannot continue from our offset (416, or another start byte): fetch the file from 0."""


class Progress(Protocol):
    def advance(self, n: int) -> None: ...


def human_size(n: float) -> str:
    """`654.38 MB` (powers of 1024, as the original tlt-pull printed them)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def check_free_space(folder: Path, needed: int, what: str) -> None:
    """Refuse to start when `folder`'s disk has less than `needed` bytes (plus 1% headroom) free."""
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if needed > 0 and free < needed * 1.01:
        raise DownloadError(
            f"not enough disk space for {what}: {human_size(needed)} needed, {human_size(free)} free "
            f"in {folder}; free some space or point CLARA_TLT_CACHE / --cache-dir at a bigger disk"
        )


def partial_path(target: Path, url: str) -> Path:
    """The `.incomplete` file of `target`; unique to this file's address, so a rerun finds it and resumes."""
    tag = hashlib.sha256(redact(url).encode()).hexdigest()[:12]
    return target.with_name(f".{target.name}.{tag}.incomplete")


class _Partial:
    """The `.incomplete` file and the running sha256 of the bytes in it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.hasher = hashlib.sha256()
        self.size = 0
        if path.exists():
            with path.open("rb") as existing:
                while block := existing.read(CHUNK):
                    self.hasher.update(block)
                    self.size += len(block)

    def reset(self) -> None:
        self.path.write_bytes(b"")
        self.hasher = hashlib.sha256()
        self.size = 0


def fetch(
    file: RemoteFile,
    target: Path,
    *,
    client: HttpClient,
    authorization: str | None = None,
    progress: Progress | None = None,
) -> Path:
    """Download `file` to `target` (resuming a previous `.incomplete`), check it, move it into place.

    A failed write (a full disk, a quota, an I/O error) raises WriteError at once: no retry can help, and the
    bytes already on disk stay in the `.incomplete` file for a rerun to resume from.
    """
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = _Partial(partial_path(target, file.url))
        if file.size is not None and partial.size > file.size:
            partial.reset()
        if progress and partial.size:
            progress.advance(partial.size)

        def attempt() -> None:
            _transfer(file, partial, client, authorization, progress)

        client.retry.run(attempt, f"downloading {file.path}")
    except OSError as exc:
        error = write_failure(target, exc)
        if error is None:
            raise
        resume = "the part downloaded so far is kept and a rerun resumes from it"
        raise WriteError(target, f"{error.reason}; {resume}", kept=error.kept) from exc
    _verify(file, partial)
    os.replace(partial.path, target)
    return target


def _open(
    file: RemoteFile, offset: int, client: HttpClient, authorization: str | None
) -> tuple[IO[bytes], int, int | None]:
    """Open the source from `offset`: (stream, where it really starts, total size if known)."""
    if file.url.startswith("file:"):
        source = Path(urllib.request.url2pathname(urllib.parse.urlsplit(file.url).path))
        if not source.is_file():
            raise DownloadError(
                f"registry file missing: {source}; the index lists it but the folder lacks it"
            )
        stream = source.open("rb")
        stream.seek(offset)
        return stream, offset, source.stat().st_size
    headers = {"Range": f"bytes={offset}-", "Accept-Encoding": "identity"} if offset else {}
    try:
        response = client.open(file.url, authorization=authorization, headers=headers)
    except HttpStatusError as exc:
        if exc.status == 416 and offset:
            raise _StartOver("the server refused to resume (HTTP 416); starting the file over") from None
        raise
    length = response.headers.get("Content-Length")
    if response.status == 206:
        match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
        start = int(match.group(1)) if match else -1
        if start != offset:
            response.close()
            raise _StartOver(f"the server resumed at byte {start}, not {offset}; starting the file over")
        total = int(match.group(3)) if match and match.group(3) != "*" else None
        return cast(IO[bytes], response), offset, total
    return cast(IO[bytes], response), 0, int(length) if length is not None and length.isdigit() else None


def _transfer(
    file: RemoteFile,
    partial: _Partial,
    client: HttpClient,
    authorization: str | None,
    progress: Progress | None,
) -> None:
    if file.size is not None and partial.size == file.size:
        return  # finished by an earlier attempt or run; _verify decides whether it is good
    try:
        stream, start, total = _open(file, partial.size, client, authorization)
    except _StartOver:
        if progress and partial.size:
            progress.advance(-partial.size)
        partial.reset()
        raise
    if start == 0 and partial.size:  # the server ignored Range and sends everything: start over
        if progress:
            progress.advance(-partial.size)
        partial.reset()
    expected = total if total is not None else file.size
    with stream, partial.path.open("ab") as out:
        try:
            while block := stream.read(CHUNK):
                out.write(block)
                partial.hasher.update(block)
                partial.size += len(block)
                if progress:
                    progress.advance(len(block))
        except (ConnectionError, TimeoutError, http.client.HTTPException) as exc:
            raise TransientError(
                f"connection cut after {partial.size} bytes ({type(exc).__name__})"
            ) from None
        finally:
            out.flush()
            os.fsync(out.fileno())
    if expected is not None and partial.size < expected:
        raise TransientError(f"connection closed after {partial.size} of {expected} bytes")


def _verify(file: RemoteFile, partial: _Partial) -> None:
    problem = None
    if file.size is not None and partial.size != file.size:
        problem = f"size {partial.size} bytes, expected {file.size}"
    elif file.sha256 and partial.hasher.hexdigest() != file.sha256.lower():
        problem = f"sha256 {partial.hasher.hexdigest()}, expected {file.sha256.lower()}"
    if problem:
        partial.path.unlink(missing_ok=True)
        raise ChecksumError(
            f"{file.path}: checksum failure: {problem}; the download was corrupted or the registry copy is "
            "damaged; nothing was kept. Run the pull again; if it fails the same way, tell the registry's "
            "maintainer"
        )
