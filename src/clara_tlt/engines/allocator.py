"""glibc's allocator told to keep freed buffers in the process while training runs on a CPU.

By default glibc gives buffers of 128 KiB and more back to the system when they are freed (mmap'd, or trimmed off
the heap's top), so every training step faults the same tensors' pages in again: on the CPU benchmark network
(benchmarks/train.py) that took half of each step. With a 32 MiB mmap threshold and a 2 GiB trim threshold the
buffers are reused: about 2x the iterations per second, the same numbers computed (docs/performance.md). The cost
is that the process keeps the memory it once used, which a training process reaches again every step anyway.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's <malloc.h> parameter numbers
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's largest (DEFAULT_MMAP_THRESHOLD_MAX on 64-bit)
TRIM_THRESHOLD = 2**31 - 1  # mallopt takes an int
USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process; False (nothing changed) off glibc or where the
    user set glibc's MALLOC_* variables, which stay theirs."""
    if not sys.platform.startswith("linux") or any(name in os.environ for name in USER_SETTINGS):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other C libraries have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    done = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    log.debug("glibc keeps freed buffers up to %d MiB in the process: %s", MMAP_THRESHOLD >> 20, done)
    return done
