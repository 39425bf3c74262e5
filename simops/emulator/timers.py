"""One heap and one task for every timed event of the emulator.

Scheduled completions, ready-to-active deadlines, billing period ends and callback retries are
all entries in a single heap keyed by the emulator clock, served by a single task: 100k pending
updates cost 100k small tuples, not 100k asyncio timers. Advancing the clock wakes the task.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from simops.emulator.clock import EmulatorClock

logger = logging.getLogger(__name__)

TimerHandler = Callable[[Any], Awaitable[None] | None]
"""What a timer calls when it is due, with the argument it was set with."""

BATCH_BEFORE_YIELD = 500
"""Due entries handled before the task lets requests run again (after a big clock jump)."""


class Timers:
    """A heap of (due, seq, handler, arg) served by one task."""

    def __init__(self, clock: EmulatorClock) -> None:
        self._clock = clock
        self._heap: list[tuple[float, int, TimerHandler, Any]] = []
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        clock.on_advance(self._wake.set)

    def __len__(self) -> int:
        return len(self._heap)

    def at(self, due: float, handler: TimerHandler, arg: Any) -> None:
        """Call `handler(arg)` once the emulator clock reaches `due`."""
        entry = (due, next(self._seq), handler, arg)
        heapq.heappush(self._heap, entry)
        if self._heap[0] is entry:
            self._wake.set()

    def start(self) -> None:
        """Start serving the heap in the current event loop."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="emulator-timers")

    async def stop(self) -> None:
        """Stop serving; entries stay in the heap (persistence restores what matters)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def run_due(self) -> int:
        """Handle every entry that is due now; the number handled."""
        handled = 0
        now = self._clock.now()
        while self._heap and self._heap[0][0] <= now:
            _, _, handler, arg = heapq.heappop(self._heap)
            try:
                outcome = handler(arg)
                if outcome is not None:
                    await outcome
            except Exception:
                logger.exception("emulator timer handler failed")
            handled += 1
            if handled % BATCH_BEFORE_YIELD == 0:
                await asyncio.sleep(0)
                now = self._clock.now()
        return handled

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            await self.run_due()
            if self._wake.is_set():
                continue
            timeout = self._heap[0][0] - self._clock.now() if self._heap else None
            if timeout is not None and timeout <= 0:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
