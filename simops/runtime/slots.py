"""Slots handed over in priority order, for work that may only have so many in flight at once.

At most `limit()` holders at a time. A waiter with a lower priority number goes first, then the
one that waited longest; a released slot goes straight to the next waiter, so a newcomer never
overtakes a waiter between the release and the waiter waking up (an `asyncio.Condition` lets it,
and then the order of the waiters decides nothing).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable


class PrioritySlots:
    """Up to `limit()` slots, handed over lowest priority number first, then in arrival order.

    `limit` is read whenever a slot could be handed over: when it grows, call `hand_over` for
    the waiters to get the new slots at once rather than at the next release.
    """

    __slots__ = ("_arrivals", "_in_flight", "_limit", "_waiters", "_waiting")

    def __init__(self, limit: Callable[[], int]) -> None:
        self._limit = limit
        self._in_flight = 0
        # (priority, arrival, turn); waiters cancelled while waiting stay until popped.
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._waiting = 0
        self._arrivals = itertools.count()

    @property
    def in_flight(self) -> int:
        """Slots held now."""
        return self._in_flight

    @property
    def waiting(self) -> int:
        """Waiters still waiting for a slot."""
        return self._waiting

    async def acquire(self, priority: int = 0) -> None:
        """Wait for a slot: behind every waiter of a lower `priority` number and every earlier
        waiter of the same one. A caller cancelled while waiting holds no slot."""
        if self._waiters or self._in_flight >= self._limit():
            await self._wait_for_turn(priority)
        else:
            self._in_flight += 1

    def release(self) -> None:
        """Give a slot back: it goes to the next waiter, if any."""
        self._in_flight -= 1
        self.hand_over()

    def hand_over(self) -> None:
        """Give every free slot to the next waiters (after a release, or when `limit` grew)."""
        while self._waiters and self._in_flight < self._limit():
            _, _, turn = heapq.heappop(self._waiters)
            if turn.done():
                continue
            self._in_flight += 1
            self._waiting -= 1
            turn.set_result(None)

    async def _wait_for_turn(self, priority: int) -> None:
        turn = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._arrivals), turn))
        self._waiting += 1
        # Waiters cancelled earlier stay in the heap until popped: hand over now, so a free
        # slot behind them is not left idle until the next release.
        self.hand_over()
        try:
            await turn
        except asyncio.CancelledError:
            if turn.cancelled():
                self._waiting -= 1
            elif turn.done():
                # The slot was handed over just as the waiter was cancelled: pass it on.
                self.release()
            raise
