"""The API key never travels over plain http:// to another machine unless --allow-insecure-http says so, and
an address holding a user name or password is refused. No test here opens a connection off this machine."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from clara_tlt.hub.http import check_address, is_loopback, redact
from tests.hub.loopback_registry import API_KEY, ORG, TEAM

MODEL = "clara_pt_private_model"
REMOTE = "http://registry.example.org"  # never contacted: every test below stops or fakes the connection


@pytest.fixture
def no_outside_traffic(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Record (url, Authorization) of what the client tried to open instead of opening it, and fail it as a
    refused connection would; name lookups and sockets fail the test."""
    opened: list[tuple[str, str]] = []

    def fake_open(self, request, *args, **kwargs):
        opened.append((request.full_url, request.unredirected_hdrs.get("Authorization", "")))
        raise urllib.error.URLError(ConnectionRefusedError("faked: not connecting"))

    def refuse(*args, **kwargs):
        raise AssertionError(f"a connection was attempted: {args}")

    monkeypatch.setattr(urllib.request.OpenerDirector, "open", fake_open)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return opened


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.8.9.10", "::1", "LOCALHOST"])
def test_loopback_hosts(host):
    assert is_loopback(host)


@pytest.mark.parametrize(
    "host", ["registry.example.org", "10.0.0.1", "128.0.0.1", "::2", "localhost.evil", ""]
)
def test_other_hosts_are_not_loopback(host):
    assert not is_loopback(host)


def test_the_decision_needs_a_key_plain_http_and_another_host():
    check_address("http://127.0.0.1:9/api", "--registry", carries_key=True)
    check_address("http://[::1]:9/api", "--registry", carries_key=True)
    check_address(f"{REMOTE}/api", "--registry", carries_key=False)
    check_address("https://registry.example.org/api", "--registry", carries_key=True)
    check_address(f"{REMOTE}/api", "--registry", carries_key=True, allow_insecure_http=True)
    with pytest.raises(Exception, match="--allow-insecure-http") as info:
        check_address(f"{REMOTE}/api", "--auth-url", carries_key=True)
    assert info.value.exit_code == 2 and "--auth-url" in str(info.value)


def test_loopback_http_works_with_a_key(registry, cli, tmp_path):
    result = cli(
        "--registry", registry.api, "--auth-url", registry.auth, "-o", ORG, "-t", TEAM, "-k", API_KEY, "-lm"
    )
    assert result.code == 0, result.text
    assert any(p.startswith("/auth/token") for p in registry.paths())


@pytest.mark.parametrize("flag", ["--registry", "--auth-url"])
def test_http_to_another_host_is_refused_before_any_connection(cli, no_outside_traffic, flag):
    addresses = {"--registry": "https://api.ngc.nvidia.com", "--auth-url": "https://authn.nvidia.com"}
    addresses[flag] = f"{REMOTE}/x"
    args = [a for pair in addresses.items() for a in pair]
    result = cli(*args, "-k", API_KEY, "-m", MODEL, "-v", "3")
    assert result.code == 2, result.text
    assert f"{flag} '{REMOTE}/x'" in result.stderr and "--allow-insecure-http" in result.stderr
    assert no_outside_traffic == [] and API_KEY not in result.text


def test_the_flag_lets_the_key_travel(cli, no_outside_traffic):
    args = ["--registry", f"{REMOTE}/api", "--auth-url", f"{REMOTE}/auth", "-k", API_KEY, "-lm"]
    result = cli(*args, "--allow-insecure-http")
    url, authorization = no_outside_traffic[0]
    assert url.startswith(f"{REMOTE}/auth/token") and authorization.startswith("Basic ")
    assert result.code == 6 and "faked" in result.stderr  # it went as far as the (faked) connection
    assert API_KEY not in result.text


def test_without_a_key_http_is_the_users_choice(cli, no_outside_traffic):
    result = cli("--registry", f"{REMOTE}/api", "-lm")
    assert no_outside_traffic == [(f"{REMOTE}/api/v2/org/nvidia/models?page-number=0", "")]
    assert result.code == 6 and "faked" in result.stderr


@pytest.mark.parametrize("flag", ["--registry", "--auth-url"])
def test_an_address_with_user_info_is_refused_and_never_shown(cli, no_outside_traffic, flag):
    secret = "s3cret-Pa55"
    result = cli(flag, f"https://me:{secret}@registry.example.org/api", "-lm")
    assert result.code == 2, result.text
    assert "user name or password" in result.stderr and "-k or NGC_API_KEY" in result.stderr
    assert secret not in result.text and no_outside_traffic == []


def test_redact_drops_user_info_whatever_it_holds():
    assert redact("https://me:p%40ss:x@host:8443/a?b=1") == "https://host:8443/a?b=1"
    assert redact("https://host/index.json") == "https://host/index.json"


def test_tlt_pull_refuses_too():
    """The console script, in a process whose sockets fail: the refusal comes before any connection."""
    script = (
        "import socket, sys\n"
        "def refuse(*a, **k):\n    raise SystemExit('CONNECTED')\n"
        "socket.getaddrinfo = socket.create_connection = refuse\n"
        f"sys.argv = ['tlt-pull', '--registry', '{REMOTE}/api', '-lm']\n"
        "from clara_tlt.cli import tlt\ntlt.pull()\n"
    )
    env = {**os.environ, "NGC_API_KEY": API_KEY}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "--allow-insecure-http" in done.stderr and "CONNECTED" not in done.stderr
    assert API_KEY not in done.stderr + done.stdout
