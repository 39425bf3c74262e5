"""How many malloc arenas a long-running simops process may use (glibc).

glibc gives a thread that allocates while another holds the lock an arena of its own, up to
eight per core, and memory freed in one arena serves only that arena afterwards. The worker
allocates from many threads: one per campaign store, asyncio's executor, the Temporal SDK's
runtime. Each arena then keeps its own high-water mark, so the process's resident memory is the
sum of their peaks. Two arenas, measured on `simops dev` (`bench.million_bench --file-sizes
10000,100000 --filter-sims 0`): the worker's peak 284 and 379 MiB against 314 and 438.

A `MALLOC_ARENA_MAX` in the environment wins: glibc read it when the process started.

Memory freed in the middle of an arena stays the process's until glibc is asked to give it back
(`release_free_memory`): after a campaign's preparation, the worker kept what the listing and
the snapshot had used, and the next campaign's preparation peaked on top of it.
"""

from __future__ import annotations

import ctypes
import os
from typing import Any

ARENA_MAX_VARIABLE = "MALLOC_ARENA_MAX"

M_ARENA_MAX = -8
"""`mallopt`'s parameter for the arena limit (glibc's malloc.h)."""

SERVICE_ARENAS = 2
"""Arenas for a long-running process: the main thread's and one the others share."""


def _libc_function(name: str) -> Any:
    """The C library's function `name`, or `None` where it has none (not glibc)."""
    return getattr(ctypes.CDLL(None), name, None)


def limit_arenas(arenas: int = SERVICE_ARENAS) -> bool:
    """Let malloc create at most `arenas` arenas from now on; whether the limit was set (not
    where the C library has no `mallopt`, nor when `MALLOC_ARENA_MAX` is set).

    Call before the process starts its threads: an arena already made stays.
    """
    if os.environ.get(ARENA_MAX_VARIABLE):
        return False
    mallopt = _libc_function("mallopt")
    if mallopt is None:
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, arenas))


def release_free_memory() -> bool:
    """Give the free memory of every arena back to the system (`malloc_trim`); whether the
    C library could (glibc) and did release some.

    Call after work that allocated much and freed it (a campaign's preparation, a closed store):
    the process's resident memory then drops to what it still uses.
    """
    malloc_trim = _libc_function("malloc_trim")
    if malloc_trim is None:
        return False
    malloc_trim.argtypes = (ctypes.c_size_t,)
    malloc_trim.restype = ctypes.c_int
    return bool(malloc_trim(0))
