"""Fixtures of the pull tests: a loopback registry (loopback_registry.py), a clean environment, the CLI."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.hub.loopback_registry import WATCHDOG_S, Handler, Registry, _Server


@pytest.fixture
def registry() -> Iterator[Registry]:
    """A running loopback registry; `registry.stop()` shuts it down early (for offline tests)."""
    server = _Server(("127.0.0.1", 0), Handler)
    server.registry = Registry()
    server.registry.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    watchdog = threading.Timer(WATCHDOG_S, server.shutdown)
    watchdog.daemon = True
    watchdog.start()
    stopped = False

    def stop() -> None:
        nonlocal stopped
        if not stopped:
            stopped = True
            server.shutdown()
            server.server_close()

    server.registry.stop = stop  # type: ignore[attr-defined]
    try:
        yield server.registry
    finally:
        watchdog.cancel()
        stop()
        thread.join(timeout=5)


@pytest.fixture(autouse=True)
def hub_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No proxies, no real keys, a private cache per test and retries that do not sleep."""
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "http_proxy",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NGC_API_KEY",
        "NGC_CLI_API_KEY",
        "NGC_CLI_ORG",
        "NGC_CLI_TEAM",
        "CLARA_TLT_REGISTRY",
        "CLARA_TLT_AUTH_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    cache = tmp_path / "cache"
    monkeypatch.setenv("CLARA_TLT_CACHE", str(cache))
    monkeypatch.setenv("CLARA_TLT_RETRIES", "3")
    monkeypatch.setenv("CLARA_TLT_RETRY_BACKOFF", "0.01")
    monkeypatch.setenv("CLARA_TLT_TIMEOUT", "10")
    return cache


@dataclass
class PullResult:
    code: int
    stdout: str
    stderr: str

    @property
    def text(self) -> str:
        return self.stdout + self.stderr

    def json(self) -> dict:
        return json.loads(self.stdout)


@pytest.fixture
def cli() -> Callable[..., PullResult]:
    """Run `clara-tlt pull ARGS` through click's CliRunner; errors become their exit code and message,
    as the real entry point prints them."""
    from click.testing import CliRunner

    from clara_tlt.cli.main import cli as root
    from clara_tlt.errors import ClaraError

    def invoke(*args: str) -> PullResult:
        result = CliRunner().invoke(root, ["pull", *args])
        stderr = result.stderr
        code = result.exit_code
        if isinstance(result.exception, ClaraError):
            code, stderr = result.exception.exit_code, stderr + f"Error: {result.exception}\n"
        elif result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return PullResult(code, result.stdout, stderr)

    return invoke
