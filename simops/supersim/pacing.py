"""Pacing: one request budget per account, shared by every coroutine of a process.

The API limits requests per account and answers 429 above the limit, so a bulk job that sends
as fast as it can starves every other integration of the account and wastes requests on 429s.
`RateBudget` caps both concurrent requests and requests per second (its ceiling: the settings,
a campaign's `--rate`, an account's share through `resize`), and adapts below that ceiling:

- a `LoadControl` (`simops.supersim.load_control`) lowers the pace when the 429s are caused by
  load (their share falls when the pace falls) and ignores those that come at any pace (noise),
  then climbs back; it never raises the pace above the ceiling;
- the concurrency cap does not adapt: halving it on every 429 let random 429s talk a campaign
  down to a fifth of its rate, and the pace, once lowered, also lowers the requests in flight;
- the rejected request waits `Retry-After` when the API sends it, else exponential backoff
  with jitter; it waits outside the budget, so a sleeping retry holds no slot. The account-wide
  reaction to a 429 is the pace, not a pause of every coroutine: a pause per `Retry-After`
  would let each spurious or injected 429 stall the whole process for a second.

The client only needs the `RequestBudget` protocol, so a budget shared across worker processes
(a lease server, Redis, or Temporal's task-queue rate limit in front of the workers) can replace
`RateBudget` without touching the client. The budget is for one event loop: asyncio primitives are
not thread-safe.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

from simops.observability import metrics
from simops.runtime.settings import SimopsSettings
from simops.runtime.slots import PrioritySlots
from simops.supersim.load_control import LoadControl, LoadControlTuning


class BudgetSlot(Protocol):
    """One granted request: the client reports how the request ended."""

    def succeeded(self) -> None:
        """The API processed the request (any answer but a 429 or a 5xx)."""

    def rate_limited(self, retry_after: float | None, attempt: int) -> float:
        """The API answered 429; returns the seconds to wait before trying again."""


class SlotLease(Protocol):
    """`async with budget.slot() as slot:` holds one slot of the budget for one request."""

    async def __aenter__(self) -> BudgetSlot: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...


class RequestBudget(Protocol):
    """What the client needs from a budget; a cross-process budget implements it too."""

    def slot(self) -> SlotLease:
        """A lease on one request slot, waited for on entry and released on exit."""

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt + 1` of a failed request."""


@dataclass(frozen=True, slots=True)
class BudgetStats:
    """Counters of a budget since it was created, for benchmarks and metrics."""

    granted: int
    succeeded: int
    rate_limited: int
    rate_limited_with_retry_after: int
    backoffs: int
    """Times the pace was lowered because 429s rose above the noise floor."""
    pace: float
    """Requests per second allowed now (at most the ceiling `max_rps`)."""
    noise_share: float
    """The share of 429s that did not fall when the pace fell, as learned so far."""
    in_flight: int
    waiting: int
    """Requests waiting for a slot now (a few may be withdrawn ones not yet dropped)."""


class _Slot:
    __slots__ = ("_budget", "_window")

    def __init__(self, budget: RateBudget, window: int) -> None:
        self._budget = budget
        self._window = window

    def succeeded(self) -> None:
        self._budget._on_success(self._window)

    def rate_limited(self, retry_after: float | None, attempt: int) -> float:
        return self._budget._on_rate_limited(self._window, retry_after, attempt)


class _Lease:
    __slots__ = ("_budget", "_priority")

    def __init__(self, budget: RateBudget, priority: int) -> None:
        self._budget = budget
        self._priority = priority

    async def __aenter__(self) -> BudgetSlot:
        return await self._budget._acquire(self._priority)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._budget._slots.release()


PACE_SLICE_SECONDS = 0.25
"""The longest a paced request sleeps before looking whether the rate changed meanwhile."""


def _check_limits(max_concurrency: int, max_rps: float) -> None:
    if max_concurrency < 1 or max_rps <= 0:
        raise ValueError("a budget needs max_concurrency >= 1 and max_rps > 0")


class RateBudget:
    """A cap on concurrent requests and on requests per second, with a pace below the latter
    that adapts to 429s caused by load (see module doc)."""

    def __init__(
        self,
        max_concurrency: int,
        max_rps: float,
        *,
        backoff_base: float = 0.25,
        backoff_max: float = 30.0,
        burst_seconds: float = 0.1,
        load_control: LoadControlTuning | None = None,
        pace_slice_seconds: float = PACE_SLICE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        _check_limits(max_concurrency, max_rps)
        self.max_concurrency = max_concurrency
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter
        self._control = LoadControl(load_control)
        self._slots = PrioritySlots(lambda: self.max_concurrency)
        self._burst_seconds = burst_seconds
        self._pace_slice = pace_slice_seconds
        self._theoretical_arrival = -math.inf
        self._interval = 1.0 / max_rps
        self.max_rps = max_rps
        self._apply_pace()
        self._granted = 0
        self._succeeded = 0
        self._rate_limited = 0
        self._rate_limited_with_retry_after = 0

    @classmethod
    def from_settings(cls, settings: SimopsSettings) -> RateBudget:
        """A budget with the limits and backoff of `settings`."""
        return cls(
            settings.api_max_concurrency,
            settings.api_max_rps,
            backoff_base=settings.api_backoff_base_seconds,
            backoff_max=settings.api_backoff_max_seconds,
        )

    @property
    def pace(self) -> float:
        """Requests per second allowed now: the ceiling `max_rps`, or the controller's pace
        below it after 429s caused by load."""
        paced = self._control.pace
        return self.max_rps if paced is None else min(self.max_rps, paced)

    def stats(self) -> BudgetStats:
        """A snapshot of the budget's counters."""
        return BudgetStats(
            granted=self._granted,
            succeeded=self._succeeded,
            rate_limited=self._rate_limited,
            rate_limited_with_retry_after=self._rate_limited_with_retry_after,
            backoffs=self._control.backoffs,
            pace=self.pace,
            noise_share=self._control.noise_share,
            in_flight=self._slots.in_flight,
            waiting=self._slots.waiting,
        )

    def slot(self) -> SlotLease:
        """A lease on one request slot: `async with budget.slot() as slot: ...`."""
        return _Lease(self, 0)

    def prioritized(self, priority: int) -> RequestBudget:
        """This budget, for requests that wait behind those of any lower `priority`.

        A campaign gives its older batches the lower number: a batch about to end (reading
        back SIMs that called back) is served before a batch still starting, so SIMs finish
        soon after their callbacks instead of queueing behind thousands of first writes.
        """
        return _PrioritizedBudget(self, priority)

    def resize(self, max_concurrency: int, max_rps: float) -> None:
        """New limits for the requests from now on (a share of a budget that others share).

        They are a ceiling: the pace the controller keeps after 429s caused by load stays (in
        requests per second) while it is below the new `max_rps`, and the controller never
        sends faster than `max_rps`. Requests already in flight finish.
        """
        _check_limits(max_concurrency, max_rps)
        self.max_concurrency = max_concurrency
        self.max_rps = max_rps
        self._apply_pace()
        self._slots.hand_over()

    def _apply_pace(self) -> None:
        pace = self.pace
        interval = 1.0 / pace
        if math.isfinite(self._theoretical_arrival):
            # The requests already queued keep their order, spaced at the new rate from now:
            # a budget resized from 1 to 75 requests/s must not send its queue 1 s apart.
            now = self._clock()
            ahead = max(0.0, self._theoretical_arrival - now)
            self._theoretical_arrival = now + ahead * interval / self._interval
        self._interval = interval
        # GCRA: a request may start `tolerance` seconds ahead of its theoretical arrival time,
        # which lets a burst of `pace * burst_seconds` requests through at once.
        self._tolerance = max(0.0, pace * self._burst_seconds - 1.0) * self._interval

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: half the step fixed, half random, capped."""
        step = min(self._backoff_max, self._backoff_base * 2.0**attempt)
        return step / 2 + self._jitter() * step / 2

    async def _acquire(self, priority: int) -> BudgetSlot:
        await self._slots.acquire(priority)
        try:
            now = await self._wait_for_pace()
        except BaseException:
            self._slots.release()
            raise
        self._granted += 1
        return _Slot(self, self._control.granted(now))

    async def _wait_for_pace(self) -> float:
        """Wait for this request's turn at the pace; the time it was granted."""
        now = self._clock()
        arrival = max(self._theoretical_arrival, now)
        self._theoretical_arrival = arrival + self._interval
        interval = self._interval
        while (wait := arrival - self._tolerance - now) > 0:
            try:
                # In slices: a new pace while it waits moves its turn (see `_apply_pace`).
                await self._sleep(min(wait, self._pace_slice))
            except asyncio.CancelledError:
                # A request withdrawn before its turn (a campaign stopped) gives its turn
                # back, so the requests after it are not paced as if it had been sent.
                self._theoretical_arrival -= self._interval
                raise
            now = self._clock()
            if self._interval != interval:
                arrival = now + max(0.0, arrival - now) * self._interval / interval
                interval = self._interval
        return now

    def _on_success(self, window: int) -> None:
        self._succeeded += 1
        self._answered(window, rate_limited=False)

    def _on_rate_limited(self, window: int, retry_after: float | None, attempt: int) -> float:
        self._rate_limited += 1
        self._answered(window, rate_limited=True)
        if retry_after is None:
            return self.backoff(attempt)
        self._rate_limited_with_retry_after += 1
        # A little jitter on top of Retry-After so that the rejected requests do not all
        # come back in the same millisecond.
        return retry_after + self._jitter() * min(self._backoff_base, retry_after / 10 + 0.01)

    def _answered(self, window: int, *, rate_limited: bool) -> None:
        control = self._control
        if control.answered(
            window, rate_limited=rate_limited, now=self._clock(), ceiling=self.max_rps
        ):
            self._apply_pace()


def budget_key(settings: SimopsSettings) -> str:
    """Which account a configuration talks to: the API URL and the credential's identity."""
    if settings.kore_client_id:
        identity = f"kore:{settings.kore_client_id}"
    elif settings.bearer_token is not None:
        fingerprint = hashlib.sha256(settings.bearer_token.get_secret_value().encode())
        identity = f"bearer:{fingerprint.hexdigest()[:16]}"
    elif settings.twilio_account_sid:
        identity = f"twilio:{settings.twilio_account_sid}"
    else:
        identity = "anonymous"
    return f"{settings.api_url.rstrip('/')}|{identity}"


_BUDGETS: dict[str, RateBudget] = {}


def budgets_for(settings: SimopsSettings) -> RateBudget:
    """The process-wide budget of the account `settings` talks to (created on first use).

    The first configuration seen for an account fixes the budget's limits, so every client of a
    process paces against the same numbers.
    """
    key = budget_key(settings)
    budget = _BUDGETS.get(key)
    if budget is None:
        budget = _BUDGETS[key] = RateBudget.from_settings(settings)
        metrics.BUDGETS.watch("account", key, budget)
    return budget


class _CombinedSlot:
    __slots__ = ("_slots",)

    def __init__(self, slots: list[BudgetSlot]) -> None:
        self._slots = slots

    def succeeded(self) -> None:
        for slot in self._slots:
            slot.succeeded()

    def rate_limited(self, retry_after: float | None, attempt: int) -> float:
        return max(slot.rate_limited(retry_after, attempt) for slot in self._slots)


class _CombinedLease:
    __slots__ = ("_budgets", "_held")

    def __init__(self, budgets: Sequence[RequestBudget]) -> None:
        self._budgets = budgets
        self._held: list[SlotLease] = []

    async def __aenter__(self) -> BudgetSlot:
        # In the order given: callers put budgets of their own before shared ones, so that
        # nobody holds a shared slot while waiting for a private one. (A plain loop rather
        # than an AsyncExitStack: this runs for every request.)
        slots: list[BudgetSlot] = []
        try:
            for budget in self._budgets:
                lease = budget.slot()
                slots.append(await lease.__aenter__())
                self._held.append(lease)
        except BaseException:
            await self._release(None, None, None)
            raise
        return _CombinedSlot(slots)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._release(exc_type, exc, traceback)

    async def _release(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        while self._held:
            await self._held.pop().__aexit__(exc_type, exc, traceback)


class _PrioritizedBudget:
    """A `RateBudget` seen by requests of one priority."""

    __slots__ = ("_budget", "_priority")

    def __init__(self, budget: RateBudget, priority: int) -> None:
        self._budget = budget
        self._priority = priority

    def slot(self) -> SlotLease:
        """A lease that waits behind every waiter of a lower priority."""
        return _Lease(self._budget, self._priority)

    def backoff(self, attempt: int) -> float:
        """The budget's backoff."""
        return self._budget.backoff(attempt)


class CombinedBudget:
    """Several budgets at once: a request needs a slot of each (an account's and a campaign's)."""

    def __init__(self, budgets: Sequence[RequestBudget]) -> None:
        if not budgets:
            raise ValueError("a combined budget needs at least one budget")
        self._budgets = list(budgets)

    def slot(self) -> SlotLease:
        """A lease on one slot of every member budget."""
        return _CombinedLease(self._budgets)

    def backoff(self, attempt: int) -> float:
        """The longest backoff any member asks for."""
        return max(budget.backoff(attempt) for budget in self._budgets)
