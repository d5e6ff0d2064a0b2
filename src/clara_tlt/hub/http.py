"""HTTP for the registry clients: one request at a time, retries with backoff, errors that say what to do.

Standard library only (urllib): proxies from HTTPS_PROXY/HTTP_PROXY/NO_PROXY and redirects work as in any
Python tool. The Authorization header is never passed on to a redirect target (signed storage URLs), and no
header value is ever logged or put into an error message, so an API key cannot leak through either.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import logging
import os
import random
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from clara_tlt import __version__
from clara_tlt.errors import DownloadError, UsageError

log = logging.getLogger("clara_tlt.hub")
T = TypeVar("T")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
USER_AGENT = f"clara-tlt/{__version__}"


class TransientError(Exception):
    """A failure that may go away when tried again: 5xx, 429, a reset or cut connection, a timeout."""


class HttpStatusError(DownloadError):
    """The server answered with an HTTP error status that retrying will not change (401, 403, 404, …)."""

    def __init__(self, status: int, url: str, message: str) -> None:
        self.status = status
        self.url = url
        super().__init__(message)


def redact(url: str) -> str:
    """`url` without any user:password part, for messages, logs and cache metadata."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def is_loopback(host: str | None) -> bool:
    """`localhost`, 127.0.0.0/8 or ::1: traffic that never leaves this machine."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_address(url: str, flag: str, *, carries_key: bool, allow_insecure_http: bool = False) -> None:
    """Refuse, before any traffic, an address holding a user name or password, and a plain `http://` address
    of another machine when its requests carry the API key (or the token it buys): anyone on the network
    path could read it. `flag` names the option the address came from."""
    parts = urllib.parse.urlsplit(url)
    if "@" in parts.netloc:
        raise UsageError(
            f"{flag} {redact(url)!r}: the address holds a user name or password (USER:PASSWORD@), which "
            "ends up in shell history, `ps` and logs; give the address without it and pass the API key with -k "
            "or NGC_API_KEY"
        )
    if carries_key and parts.scheme == "http" and not is_loopback(parts.hostname) and not allow_insecure_http:
        raise UsageError(
            f"{flag} {url!r}: refusing to send the API key over plain http:// to {parts.hostname}, where anyone "
            "on the network path can read it; use https://, or add --allow-insecure-http if you trust every "
            "network between here and that host"
        )


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry. Environment: CLARA_TLT_RETRIES, CLARA_TLT_RETRY_BACKOFF,
    CLARA_TLT_TIMEOUT (seconds). The wait before attempt n+1 is `backoff * 2**(n-1)`, capped, with jitter."""

    attempts: int = 5
    backoff: float = 1.0
    max_backoff: float = 30.0
    timeout: float = 60.0

    @classmethod
    def from_env(cls) -> RetryPolicy:
        def number(name: str, default: float) -> float:
            raw = os.environ.get(name)
            if raw is None or raw == "":
                return default
            try:
                return float(raw)
            except ValueError:
                raise DownloadError(
                    f"{name}={raw!r} is not a number; unset it or give e.g. {name}={default:g}"
                ) from None

        return cls(
            attempts=max(1, int(number("CLARA_TLT_RETRIES", cls.attempts))),
            backoff=max(0.0, number("CLARA_TLT_RETRY_BACKOFF", cls.backoff)),
            timeout=max(0.1, number("CLARA_TLT_TIMEOUT", cls.timeout)),
        )

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        base = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        return base * (0.75 + 0.5 * random.random())

    def run(self, action: Callable[[], T], what: str) -> T:
        """Call `action` until it succeeds, retrying TransientError; then raise DownloadError."""
        for attempt in range(1, self.attempts + 1):
            try:
                return action()
            except TransientError as exc:
                if attempt == self.attempts:
                    raise DownloadError(
                        f"{what} failed after {self.attempts} attempts: {exc}; the registry or the network "
                        "is having trouble: try again later (a rerun resumes where this one stopped), "
                        "or raise CLARA_TLT_RETRIES"
                    ) from exc
                wait = self.delay(attempt)
                log.warning(
                    "%s: %s; retrying in %.1fs (attempt %d of %d)",
                    what,
                    exc,
                    wait,
                    attempt + 1,
                    self.attempts,
                )
                time.sleep(wait)
        raise AssertionError("unreachable")


def _is_transient_reason(reason: object) -> bool:
    if isinstance(reason, (ConnectionRefusedError, socket.gaierror)):
        return False  # nothing listening / no such host: waiting seconds rarely helps, fail fast and say so
    return isinstance(reason, (ConnectionError, TimeoutError, socket.timeout, http.client.HTTPException))


class HttpClient:
    """GET requests with an optional Authorization value; statuses and network errors mapped to our errors."""

    def __init__(self, retry: RetryPolicy | None = None, *, key_hint: str = "") -> None:
        self.retry = retry or RetryPolicy.from_env()
        self.key_hint = key_hint
        self._opener = urllib.request.build_opener()

    def open(
        self, url: str, *, authorization: str | None = None, headers: dict[str, str] | None = None
    ) -> http.client.HTTPResponse:
        """One GET; raise TransientError (retry may help), HttpStatusError or DownloadError (it will not)."""
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **(headers or {})})
        if authorization:
            request.add_unredirected_header("Authorization", authorization)
        shown = redact(url)
        try:
            response = self._opener.open(request, timeout=self.retry.timeout)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code in RETRY_STATUSES:
                raise TransientError(f"HTTP {exc.code} from {shown}") from None
            raise self.status_error(exc.code, shown) from None
        except urllib.error.URLError as exc:
            if _is_transient_reason(exc.reason):
                raise TransientError(f"{type(exc.reason).__name__} talking to {shown}") from None
            raise DownloadError(
                f"cannot reach {shown}: {exc.reason}; check the network, the proxy settings (HTTPS_PROXY) "
                "and --registry / --auth-url"
            ) from None
        except (ConnectionError, TimeoutError, http.client.HTTPException) as exc:
            raise TransientError(f"{type(exc).__name__} talking to {shown}") from None
        return response

    def status_error(self, status: int, shown: str) -> HttpStatusError:
        if status == 401:
            fix = self.key_hint or "check the API key (-k or NGC_API_KEY)"
            return HttpStatusError(status, shown, f"{shown}: HTTP 401 unauthorized: {fix}")
        if status == 403:
            return HttpStatusError(
                status,
                shown,
                f"{shown}: HTTP 403 forbidden: the API key has no access to this org/team or model; "
                "check -o/-t and that the key belongs to a member of that org",
            )
        if status == 404:
            return HttpStatusError(status, shown, f"{shown}: HTTP 404 not found")
        return HttpStatusError(status, shown, f"{shown}: HTTP {status}; check --registry and the model name")

    def get_json(self, url: str, *, authorization: str | None = None, what: str | None = None) -> Any:
        """GET `url` and parse JSON, with retries."""

        def attempt() -> Any:
            with self.open(
                url, authorization=authorization, headers={"Accept": "application/json"}
            ) as response:
                try:
                    body = response.read()
                except (ConnectionError, TimeoutError, http.client.HTTPException) as exc:
                    raise TransientError(f"{type(exc).__name__} reading {redact(url)}") from None
            try:
                return json.loads(body)
            except ValueError:
                raise DownloadError(
                    f"{redact(url)} did not return JSON; is --registry the registry's API address?"
                ) from None

        return self.retry.run(attempt, what or f"GET {redact(url)}")
