"""The malloc arena limit of long-running simops processes, seen in glibc's own arena count."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys

import pytest

from simops.runtime import malloc_arenas

PROBE = """
import ctypes, sys, threading
from simops.runtime import malloc_arenas
print(malloc_arenas.limit_arenas() if sys.argv[1] == "limit" else "unlimited")
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)

def churn():
    # ctypes lets the GIL go around each call: the threads contend for malloc itself.
    for _ in range(20000):
        libc.free(libc.malloc(4096))

threads = [threading.Thread(target=churn) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
libc.malloc_stats()
"""
"""Eight threads allocating at once, then glibc's statistics: one `Arena N:` line per arena."""

requires_glibc = pytest.mark.skipif(
    not hasattr(ctypes.CDLL(None), "malloc_stats"),
    reason="the arena count is read from glibc's malloc_stats, which this C library lacks",
)


def arenas_after_threads(mode: str, **environment: str) -> tuple[str, int]:
    """What the probe printed (the limit's result) and how many arenas glibc reported."""
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, mode],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={
            **{k: v for k, v in os.environ.items() if k != malloc_arenas.ARENA_MAX_VARIABLE},
            **environment,
        },
    )
    arenas = sum(line.startswith("Arena ") for line in probe.stderr.splitlines())
    return probe.stdout.strip(), arenas


@requires_glibc
def test_a_limited_process_makes_no_more_arenas_than_the_limit() -> None:
    printed, unlimited = arenas_after_threads("unlimited")
    # Without the limit the same threads make more arenas: the probe can tell the difference.
    assert unlimited > malloc_arenas.SERVICE_ARENAS, printed
    printed, limited = arenas_after_threads("limit")
    assert printed == "True"
    assert limited <= malloc_arenas.SERVICE_ARENAS


@requires_glibc
def test_malloc_arena_max_in_the_environment_wins() -> None:
    printed, arenas = arenas_after_threads("limit", MALLOC_ARENA_MAX="4")
    assert printed == "False"
    assert arenas <= 4
