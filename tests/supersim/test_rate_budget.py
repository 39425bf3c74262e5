"""The request budget, on a fake clock: caps, the pace after 429s, priorities, withdrawals."""

from __future__ import annotations

import asyncio
import bisect
import random
from collections.abc import Callable

import pytest
from pydantic import SecretStr

from simops.core.fair_share import UNLIMITED_RATE
from simops.runtime.settings import SimopsSettings
from simops.supersim.pacing import CombinedBudget, RateBudget, budget_key, budgets_for


class FakeClock:
    """Time that passes only when the budget sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class TokenBucket:
    """An API's limit of `rate` requests/s holding one second of burst (as the emulator's)."""

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.tokens = rate
        self.stamp = now

    def refuses(self, now: float) -> bool:
        """Whether a request at `now` is over the limit (else it takes a token)."""
        self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1.0:
            return True
        self.tokens -= 1.0
        return False


def make_budget(
    clock: FakeClock, *, concurrency: int = 8, rps: float = 1e6, jitter: float = 0.5
) -> RateBudget:
    return RateBudget(
        concurrency,
        rps,
        backoff_base=0.25,
        backoff_max=4.0,
        clock=clock,
        sleep=clock.sleep,
        jitter=lambda: jitter,
    )


async def test_concurrency_cap_holds_and_hands_slots_over_in_order() -> None:
    budget = make_budget(FakeClock(), concurrency=3)
    release = asyncio.Event()
    peak = 0
    order: list[int] = []

    async def request(number: int) -> None:
        nonlocal peak
        async with budget.slot():
            order.append(number)
            peak = max(peak, budget.stats().in_flight)
            await release.wait()

    tasks = [asyncio.create_task(request(number)) for number in range(10)]
    await asyncio.sleep(0.01)
    assert budget.stats().in_flight == 3
    release.set()
    await asyncio.gather(*tasks)
    assert peak == 3
    assert order == list(range(10))
    assert budget.stats().in_flight == 0


async def test_429s_do_not_lower_the_concurrency_cap() -> None:
    # Halving it on every 429 let random 429s talk a campaign down to a fifth of its rate.
    budget = make_budget(FakeClock(), concurrency=8)
    leases = [budget.slot() for _ in range(8)]
    for lease in leases:
        (await lease.__aenter__()).rate_limited(None, 0)
    assert budget.stats().in_flight == 8
    for lease in leases:
        await lease.__aexit__(None, None, None)
    assert budget.max_concurrency == 8
    assert budget.stats().rate_limited == 8


async def send_for(
    budget: RateBudget, clock: FakeClock, seconds: float, answer: Callable[[float], bool]
) -> list[float]:
    """Requests one after another for `seconds` of the fake clock, each answered 429 when
    `answer(now)` says so; when each was granted."""
    granted: list[float] = []
    end = clock.now + seconds
    while clock.now < end:
        async with budget.slot() as slot:
            granted.append(clock.now)
            if answer(clock.now):
                slot.rate_limited(1.0, 0)
            else:
                slot.succeeded()
        # Answers take a millisecond: time passes even while the pace does not wait.
        clock.now += 0.001
    return granted


def most_in_one_second(granted: list[float]) -> int:
    """The most requests granted within any one second."""
    return max(bisect.bisect_left(granted, at + 1.0) - index for index, at in enumerate(granted))


async def test_429s_caused_by_load_bring_the_pace_below_the_limit() -> None:
    clock = FakeClock()
    budget = make_budget(clock, concurrency=8, rps=1000.0)
    limit = TokenBucket(50.0, clock.now)
    await send_for(budget, clock, 30.0, limit.refuses)
    assert 30.0 <= budget.stats().pace <= 1.25 * 50.0
    granted = await send_for(budget, clock, 30.0, limit.refuses)
    assert len(granted) <= 1.1 * 50 * 30


async def test_a_resized_ceiling_is_never_exceeded_whatever_the_429s() -> None:
    # An account budget creates a campaign's budget at an unlimited rate and resizes it to the
    # campaign's share: the controller may only stay below the share, never climb above it.
    clock = FakeClock()
    budget = make_budget(clock, concurrency=8, rps=UNLIMITED_RATE)
    budget.resize(8, 30.0)
    noise = random.Random(3)
    granted = await send_for(budget, clock, 120.0, lambda _: noise.random() < 0.05)
    assert budget.max_rps == 30.0
    assert budget.stats().pace <= 30.0
    # At most the ceiling and its burst (0.1 s of requests) in any second ...
    assert most_in_one_second(granted) <= 30 + 3
    # ... and the random 429s did not talk the pace down.
    assert len(granted) >= 0.9 * 30 * 120
    assert budget.stats().noise_share > 0.0


async def test_retry_after_is_honoured_by_the_rejected_request_alone() -> None:
    clock = FakeClock()
    budget = make_budget(clock)
    async with budget.slot() as slot:
        delay = slot.rate_limited(2.0, 0)
    assert 2.0 <= delay <= 2.25
    assert budget.stats().rate_limited_with_retry_after == 1
    started = clock.now
    async with budget.slot():
        assert clock.now == started


async def test_without_retry_after_the_request_backs_off_exponentially() -> None:
    clock = FakeClock()
    budget = make_budget(clock, jitter=1.0)
    async with budget.slot() as slot:
        delays = [slot.rate_limited(None, attempt) for attempt in range(6)]
    assert delays == [0.25, 0.5, 1.0, 2.0, 4.0, 4.0]


def test_backoff_jitter_stays_within_half_and_full_step() -> None:
    clock = FakeClock()
    assert make_budget(clock, jitter=0.0).backoff(3) == 1.0
    assert make_budget(clock, jitter=1.0).backoff(3) == 2.0


async def test_requests_per_second_are_spaced() -> None:
    clock = FakeClock()
    budget = make_budget(clock, rps=10.0)
    started = clock.now
    for _ in range(5):
        async with budget.slot() as slot:
            slot.succeeded()
    assert clock.now - started == pytest.approx(0.4)


async def test_resize_changes_the_rate_and_the_cap() -> None:
    clock = FakeClock()
    budget = make_budget(clock, concurrency=8, rps=10.0)
    async with budget.slot() as slot:
        slot.succeeded()

    budget.resize(16, 40.0)
    assert budget.max_concurrency == 16 and budget.max_rps == 40.0
    started = clock.now
    for _ in range(5):
        async with budget.slot() as slot:
            slot.succeeded()
    # The first request may still wait for the slot it was due under the old rate.
    assert clock.now - started <= 0.1 + 4 * 0.025 + 1e-9

    with pytest.raises(ValueError, match="max_concurrency"):
        budget.resize(0, 40.0)


async def test_a_larger_cap_admits_waiters_at_once() -> None:
    budget = make_budget(FakeClock(), concurrency=1)
    release = asyncio.Event()
    entered = 0

    async def request() -> None:
        nonlocal entered
        async with budget.slot():
            entered += 1
            await release.wait()

    tasks = [asyncio.create_task(request()) for _ in range(3)]
    await asyncio.sleep(0.01)
    assert entered == 1
    budget.resize(3, 1e6)
    await asyncio.sleep(0.01)
    assert entered == 3
    release.set()
    await asyncio.gather(*tasks)


async def test_a_cancelled_waiter_gives_its_slot_back() -> None:
    budget = make_budget(FakeClock(), concurrency=1)
    lease = budget.slot()
    await lease.__aenter__()
    waiter = asyncio.create_task(budget.slot().__aenter__())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await lease.__aexit__(None, None, None)
    assert budget.stats().in_flight == 0
    async with budget.slot():
        assert budget.stats().in_flight == 1


def test_one_budget_per_account_per_process() -> None:
    first = SimopsSettings(api_url="http://api.test/v1", bearer_token=SecretStr("token-a"))
    again = SimopsSettings(api_url="http://api.test/v1/", bearer_token=SecretStr("token-a"))
    other = SimopsSettings(api_url="http://api.test/v1", bearer_token=SecretStr("token-b"))
    assert budgets_for(first) is budgets_for(again)
    assert budgets_for(first) is not budgets_for(other)
    assert "token-a" not in budget_key(first)


async def test_lower_priorities_are_served_first_then_the_longest_waiter() -> None:
    budget = make_budget(FakeClock(), concurrency=1)
    holder = budget.slot()
    await holder.__aenter__()
    served: list[str] = []

    async def request(name: str, priority: int) -> None:
        async with budget.prioritized(priority).slot():
            served.append(name)

    waiting = []
    for name, priority in [("late-batch", 5), ("old-batch-1", 1), ("plain", 0), ("old-batch-2", 1)]:
        waiting.append(asyncio.create_task(request(name, priority)))
        await asyncio.sleep(0)
    await holder.__aexit__(None, None, None)
    await asyncio.gather(*waiting)
    assert served == ["plain", "old-batch-1", "old-batch-2", "late-batch"]


async def test_a_cancelled_waiter_left_queued_does_not_hold_back_a_free_slot() -> None:
    budget = make_budget(FakeClock(), concurrency=1)
    holder = budget.slot()
    await holder.__aenter__()
    cancelled = asyncio.create_task(budget.slot().__aenter__())
    await asyncio.sleep(0)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    await holder.__aexit__(None, None, None)
    # The slot is free; the cancelled waiter is still queued but must not block the next one.
    await asyncio.wait_for(budget.slot().__aenter__(), timeout=1.0)
    assert budget.stats().in_flight == 1


async def test_a_combined_lease_gives_back_what_it_took_when_a_member_fails() -> None:
    narrow = make_budget(FakeClock(), concurrency=1)
    account = make_budget(FakeClock(), concurrency=1)
    holder = account.slot()
    await holder.__aenter__()
    combined = CombinedBudget([narrow, account])
    attempt = asyncio.create_task(combined.slot().__aenter__())
    await asyncio.sleep(0.01)
    # Holding the campaign's slot while it waits for the account's.
    assert narrow.stats().in_flight == 1
    attempt.cancel()
    with pytest.raises(asyncio.CancelledError):
        await attempt
    assert narrow.stats().in_flight == 0
    await holder.__aexit__(None, None, None)
    async with combined.slot():
        assert (narrow.stats().in_flight, account.stats().in_flight) == (1, 1)
    assert (narrow.stats().in_flight, account.stats().in_flight) == (0, 0)


class StoppedClock:
    """Time that never passes: a paced request waits until it is cancelled."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self) -> float:
        return 0.0

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.Event().wait()


async def test_requests_withdrawn_before_their_turn_give_their_turns_back() -> None:
    clock = StoppedClock()
    # Whole waits (no slices), so that each request's distance from its turn shows.
    budget = RateBudget(10, 1.0, clock=clock, sleep=clock.sleep, pace_slice_seconds=100.0)
    first = budget.slot()
    await first.__aenter__()
    queued = [asyncio.create_task(budget.slot().__aenter__()) for _ in range(4)]
    await asyncio.sleep(0)
    assert clock.waits == [1.0, 2.0, 3.0, 4.0]
    # A stopped campaign withdraws them: the next request waits one turn, not five.
    for request in queued:
        request.cancel()
    await asyncio.gather(*queued, return_exceptions=True)
    following = asyncio.create_task(budget.slot().__aenter__())
    await asyncio.sleep(0)
    assert clock.waits[-1] == 1.0
    following.cancel()
    await asyncio.gather(following, return_exceptions=True)
    await first.__aexit__(None, None, None)


class ManualClock:
    """Time that passes only when the test says; sleepers wake when it reaches their time."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        woken = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + seconds, woken))
        await woken

    async def advance(self, seconds: float, step: float = 0.05) -> None:
        """Move time on in steps, waking each sleeper whose time came."""
        end = self.now + seconds
        while self.now < end - 1e-9:
            self.now = min(end, self.now + step)
            for due, woken in list(self._sleepers):
                if due <= self.now + 1e-9 and not woken.done():
                    woken.set_result(None)
            self._sleepers = [(due, w) for due, w in self._sleepers if not w.done()]
            for _ in range(5):
                await asyncio.sleep(0)


async def test_a_resize_moves_the_turns_of_requests_already_waiting() -> None:
    # A campaign's part of an account budget fell to 1 request/s and rose again to 50: the
    # requests queued meanwhile must go at the new rate, not one a second.
    clock = ManualClock()
    budget = RateBudget(100, 1.0, clock=clock, sleep=clock.sleep, burst_seconds=0.0)
    granted: list[float] = []

    async def request() -> None:
        async with budget.slot():
            granted.append(clock.now)

    requests = [asyncio.create_task(request()) for _ in range(20)]
    await clock.advance(0.5)
    budget.resize(100, 50.0)
    await clock.advance(1.0)

    assert len(granted) == 20, granted
    # The first went at once; the 19 behind it within 0.5 s of the resize and 20 ms apart.
    assert max(granted) <= 0.5 + 19 * 0.02 + 0.1, granted
    await asyncio.gather(*requests)


async def test_withdrawn_waiters_do_not_count_as_waiting() -> None:
    # The account budget reads `waiting` to tell whether a campaign could use more: requests a
    # stopped campaign withdrew must not keep saying so.
    budget = RateBudget(1, 1000.0)
    holder = budget.slot()
    await holder.__aenter__()
    queued = [asyncio.create_task(budget.slot().__aenter__()) for _ in range(3)]
    await asyncio.sleep(0)
    assert budget.stats().waiting == 3
    for request in queued:
        request.cancel()
    await asyncio.gather(*queued, return_exceptions=True)

    assert budget.stats().waiting == 0
    await holder.__aexit__(None, None, None)
    assert budget.stats().in_flight == 0
