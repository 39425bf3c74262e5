"""How many malloc arenas a long-running simops process may use (glibc).

glibc gives a thread that allocates while another holds the lock an arena of its own, up to
eight per core, and memory freed in one arena serves only that arena afterwards. The worker
allocates from many threads: one per campaign store, asyncio's executor, the Temporal SDK's
runtime. Each arena then keeps its own high-water mark, so the process's resident memory is the
sum of their peaks. Two arenas, measured on `simops dev` (`bench.million_bench --file-sizes
10000,100000 --filter-sims 0`): the worker's peak 284 and 379 MiB against 314 and 438.

A `MALLOC_ARENA_MAX` in the environment wins: glibc read it when the process started.
"""

from __future__ import annotations

import ctypes
import os

ARENA_MAX_VARIABLE = "MALLOC_ARENA_MAX"

M_ARENA_MAX = -8
"""`mallopt`'s parameter for the arena limit (glibc's malloc.h)."""

SERVICE_ARENAS = 2
"""Arenas for a long-running process: the main thread's and one the others share."""


def limit_arenas(arenas: int = SERVICE_ARENAS) -> bool:
    """Let malloc create at most `arenas` arenas from now on; whether the limit was set (not
    where the C library has no `mallopt`, nor when `MALLOC_ARENA_MAX` is set).

    Call before the process starts its threads: an arena already made stays.
    """
    if os.environ.get(ARENA_MAX_VARIABLE):
        return False
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, arenas))
