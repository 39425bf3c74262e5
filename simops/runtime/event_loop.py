"""The event loop every simops process runs on: uvloop where it is installed, else asyncio's.

The worker, the callback ingress and the emulator spend most of their CPU in the event loop and
its socket transports (thousands of HTTP exchanges a second); uvloop spends less on them
(`bench/event_loop_bench.py` measures both loops, docs/benchmarks.md quotes it).
`SIMOPS_EVENT_LOOP=asyncio` forces the standard loop, for instance to rule uvloop out.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

EVENT_LOOP_VARIABLE = "SIMOPS_EVENT_LOOP"


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory, or `None` (asyncio's default) when it is missing or turned off."""
    if os.environ.get(EVENT_LOOP_VARIABLE, "").strip().lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def loop_name() -> str:
    """Which loop `run` uses in this environment: "uvloop" or "asyncio"."""
    return "asyncio" if loop_factory() is None else "uvloop"


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` on the loop `loop_factory` picks."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
