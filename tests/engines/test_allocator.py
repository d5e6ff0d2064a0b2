"""Training keeps freed buffers in the process (glibc), unless the user set glibc's own MALLOC_* variables."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from clara_tlt.engines import allocator

glibc = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None, reason="glibc only"
)
ASK = "from clara_tlt.engines.allocator import keep_freed_memory; print(keep_freed_memory())"


def ask(environment: dict[str, str]) -> str:
    """keep_freed_memory()'s answer in a fresh process with `environment` added (this one's allocator untouched)."""
    clean = {k: v for k, v in os.environ.items() if k not in allocator.USER_SETTINGS}
    done = subprocess.run(
        [sys.executable, "-c", ASK], env=clean | environment, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@glibc
def test_glibc_is_told_to_keep_freed_buffers() -> None:
    assert ask({}) == "True"


@glibc
@pytest.mark.parametrize("name", allocator.USER_SETTINGS)
def test_a_users_malloc_setting_stays_theirs(name: str) -> None:
    assert ask({name: "1048576"}) == "False"
