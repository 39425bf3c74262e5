"""Garbage collection for long-running simops processes (worker, callback ingress, emulator).

These processes import large libraries (Temporal's SDK and protobufs, pydantic's schemas,
aiohttp) and then serve thousands of requests a second, each allocating short-lived objects.
With Python's defaults a young collection runs every 700 allocations and every few young ones
an older generation is walked, startup objects included: measured in a 10,000-SIM campaign,
the worker spent 9.5 of its 22.7 CPU seconds collecting. Freezing what exists after startup
takes it out of every collection, and a young collection every 10,000 allocations keeps pauses
to milliseconds: 2.2 of 15.0 seconds in the same run (`bench/campaign_bench.py`).
"""

from __future__ import annotations

import gc

from simops.runtime import malloc_arenas

YOUNG_GC_THRESHOLD = 10_000
"""Allocations between young collections (Python's default is 700)."""


def tune_for_service() -> None:
    """Freeze every object alive now, collect young objects less often, and bound the
    process's malloc arenas (`malloc_arenas`).

    Call once the process has imported what it serves with, before it starts serving.
    """
    malloc_arenas.limit_arenas()
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_GC_THRESHOLD, *gc.get_threshold()[1:])
