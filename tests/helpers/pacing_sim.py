"""A request budget against a simulated API, in virtual time: minutes of traffic in a second or two.

`VirtualTime` is the clock and the sleep a `RateBudget` takes as injectables: time moves only
when every coroutine waits, straight to the next wake-up, so a run is deterministic (with seeded
dice) and independent of the host's speed. `SimulatedApi` refuses requests the way the emulator
does: a token bucket of `rate_limit` requests per second with one second of burst (load-caused
429s), then `noise` of the admitted requests refused at random (injected 429s); both carry
`Retry-After: 1`.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
from dataclasses import dataclass

from simops.supersim.pacing import RateBudget

SETTLE_STEPS = 8
"""Turns of the event loop given to the coroutines woken at one instant before time moves on
(a wake-up hands a slot over, the next waiter paces and sleeps: a few turns)."""


class VirtualTime:
    """A clock that jumps from one sleeper's wake-up to the next."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of virtual time."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        wake = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._order), wake))
        await wake

    async def run_until(self, end: float) -> None:
        """Let the coroutines run until virtual time `end`."""
        sleepers = self._sleepers
        while True:
            for _ in range(SETTLE_STEPS):
                await asyncio.sleep(0)
            while sleepers and sleepers[0][2].done():
                heapq.heappop(sleepers)
            if not sleepers or sleepers[0][0] > end:
                self.now = end
                return
            self.now = sleepers[0][0]
            while sleepers and sleepers[0][0] <= self.now:
                _, _, wake = heapq.heappop(sleepers)
                if not wake.done():
                    wake.set_result(None)


class SimulatedApi:
    """Answers 429 like the emulator: above its rate limit (load) and at random (noise)."""

    def __init__(
        self, clock: VirtualTime, *, rate_limit: float | None, noise: float, seed: int = 7
    ) -> None:
        self._clock = clock
        self._rate = rate_limit
        self._tokens = rate_limit or 0.0
        self._stamp = clock.now
        self._noise = noise
        self._dice = random.Random(seed)
        self.requests = 0
        self.limited = 0

    def refuses(self) -> bool:
        """Whether the request arriving now is answered 429."""
        self.requests += 1
        if self._rate is not None:
            now = self._clock.now
            self._tokens = min(self._rate, self._tokens + (now - self._stamp) * self._rate)
            self._stamp = now
            if self._tokens < 1.0:
                self.limited += 1
                return True
            self._tokens -= 1.0
        if self._noise and self._dice.random() < self._noise:
            self.limited += 1
            return True
        return False


@dataclass(frozen=True)
class SimulatedRun:
    """What a budget sent during a simulated run."""

    seconds: float
    requests: int
    limited: int

    @property
    def requests_per_second(self) -> float:
        """Requests sent per second, answered 429 or not."""
        return self.requests / self.seconds

    @property
    def limited_share(self) -> float:
        """The fraction of requests answered 429."""
        return self.limited / self.requests if self.requests else 0.0


async def simulate(
    *,
    max_rps: float,
    rate_limit: float | None,
    noise: float,
    seconds: float = 60.0,
    concurrency: int = 100,
    workers: int = 200,
    latency: float = 0.1,
    seed: int = 7,
) -> SimulatedRun:
    """`workers` coroutines send requests as fast as a `RateBudget` of `max_rps` and
    `concurrency` lets them, each answered `latency` seconds after it was sent and retried after
    the budget's wait when answered 429, for `seconds` of virtual time. (A tenth of a second is
    an Internet API's latency; at 200 requests/s it takes 20 in flight.)"""
    clock = VirtualTime()
    dice = random.Random(seed)
    budget = RateBudget(concurrency, max_rps, clock=clock, sleep=clock.sleep, jitter=dice.random)
    api = SimulatedApi(clock, rate_limit=rate_limit, noise=noise, seed=seed)
    end = clock.now + seconds

    async def worker() -> None:
        while clock.now < end:
            attempt = 0
            while True:
                async with budget.slot() as slot:
                    refused = api.refuses()
                    await clock.sleep(latency)
                    if not refused:
                        slot.succeeded()
                        break
                    wait = slot.rate_limited(1.0, attempt)
                attempt += 1
                await clock.sleep(wait)

    tasks = [asyncio.create_task(worker()) for _ in range(workers)]
    try:
        await clock.run_until(end)
        run = SimulatedRun(seconds, api.requests, api.limited)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return run
