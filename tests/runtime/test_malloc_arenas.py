"""The malloc arenas of long-running simops processes: their limit, seen in glibc's own arena
count, and memory given back, seen in the process's resident size."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys

import pytest

from simops.runtime import malloc_arenas

LIBC = """
import ctypes
from simops.runtime import malloc_arenas
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
"""
"""What every probe starts with: glibc's malloc and free, callable from Python."""

ARENA_PROBE = (
    LIBC
    + """
import sys, threading
print(malloc_arenas.limit_arenas() if sys.argv[1] == "limit" else "unlimited")

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
)
"""Eight threads allocating at once, then glibc's statistics: one `Arena N:` line per arena."""

requires_glibc = pytest.mark.skipif(
    not hasattr(ctypes.CDLL(None), "malloc_stats"),
    reason="the arena count is read from glibc's malloc_stats, which this C library lacks",
)


def run_probe(source: str, *arguments: str, **environment: str) -> subprocess.CompletedProcess[str]:
    """`source` run by a new interpreter, with no `MALLOC_ARENA_MAX` but from `environment`."""
    return subprocess.run(
        [sys.executable, "-c", source, *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={
            **{k: v for k, v in os.environ.items() if k != malloc_arenas.ARENA_MAX_VARIABLE},
            **environment,
        },
    )


def arenas_after_threads(mode: str, **environment: str) -> tuple[str, int]:
    """What the probe printed (the limit's result) and how many arenas glibc reported."""
    probe = run_probe(ARENA_PROBE, mode, **environment)
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


TRIM_PROBE = (
    LIBC
    + """
def resident_mib():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 // 2**20

blocks = [libc.malloc(1024) for _ in range(200_000)]
# One block allocated last stays: glibc cannot shrink the heap from its top, so the freed
# 200 MiB below it stay resident until they are released.
last = libc.malloc(1024)
for block in blocks:
    libc.free(block)
freed = resident_mib()
released = malloc_arenas.release_free_memory()
print(freed, resident_mib(), released)
"""
)


@requires_glibc
def test_freed_memory_is_given_back_to_the_system() -> None:
    probe = run_probe(TRIM_PROBE)
    freed, released, answer = probe.stdout.split()
    assert answer == "True"
    # 200,000 blocks of 1 KiB were freed: nearly all of it leaves the process.
    assert int(freed) - int(released) >= 150, probe.stdout
