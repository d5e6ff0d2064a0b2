"""Launch `python -m torch.distributed.run … -m clara_tlt ARGS` for the multi-process tests, in a session of
its own, so that a run past its time is stopped whole: killing torchrun alone (what `subprocess.run(timeout=…)`
does) leaves its rank processes waiting forever in a collective for a peer that is gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping

import pytest

TIMEOUT_S = 300


def torchrun(
    *args: str, ranks: int = 2, env: Mapping[str, str] | None = None, timeout: float = TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    """Run `clara_tlt ARGS` under torchrun with `ranks` gloo processes (one plain process when `ranks` is 1);
    past `timeout` seconds every process of the run is killed and the test fails with what they printed."""
    launcher = (
        ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(ranks)] if ranks > 1 else []
    )
    command = [sys.executable, *launcher, "-m", "clara_tlt", *args]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
        start_new_session=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
            pytest.fail(f"torchrun ran past {timeout} s; every rank was stopped.\n{stdout}\n{stderr}")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
