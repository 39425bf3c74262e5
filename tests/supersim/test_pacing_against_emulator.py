"""The request budget against the emulator: its injected 429s (noise) do not talk the pace down,
its `--rate` limit (load) brings the pace below the limit, and a resized ceiling holds."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from simops.core.fair_share import UNLIMITED_RATE
from simops.emulator.server import RunningEmulator
from simops.runtime.settings import SimopsSettings
from simops.supersim.client import SuperSimClient
from simops.supersim.pacing import RateBudget
from tests.helpers.emulators import EmulatorFactory
from tests.helpers.supersim import EmulatorControl, client_settings

WORKERS = 30
"""Coroutines sending requests one after another: enough to use every budget below."""


def paced_settings(emulator: RunningEmulator, **overrides: Any) -> SimopsSettings:
    """Settings of the parent account whose requests are retried until answered: the tests
    look at the pace, not at requests given up."""
    return client_settings(emulator, api_max_rate_limit_retries=100, **overrides)


@dataclass
class Drive:
    """The budget's pace as sampled while requests were sent."""

    paces: list[float] = field(default_factory=list)


async def drive(client: SuperSimClient, budget: RateBudget, seconds: float) -> Drive:
    """`WORKERS` coroutines list the fleets for `seconds`; the pace sampled every 50 ms."""
    sampled = Drive()
    end = time.monotonic() + seconds

    async def send() -> None:
        while time.monotonic() < end:
            await client.list_fleets()

    async def sample() -> None:
        while time.monotonic() < end:
            sampled.paces.append(budget.stats().pace)
            await asyncio.sleep(0.05)

    await asyncio.gather(sample(), *(send() for _ in range(WORKERS)))
    return sampled


def answered(stats: dict[str, object]) -> Counter[int]:
    """Answers to the fleet listing by status, from the emulator's stats page."""
    by_route = stats["requests"]
    assert isinstance(by_route, dict)
    return Counter({int(status): n for status, n in by_route["GET /v1/Fleets"].items()})


async def test_injected_random_429s_do_not_drive_the_pace_down(
    emulator_factory: EmulatorFactory,
) -> None:
    emulator = await emulator_factory()
    await EmulatorControl(emulator).faults(rate_limit_rate=0.1)
    settings = paced_settings(emulator, api_max_rps=100.0, api_max_concurrency=WORKERS)
    budget = RateBudget.from_settings(settings)
    async with SuperSimClient(settings, budget=budget) as client:
        sampled = await drive(client, budget, 6.0)
    stats = budget.stats()
    assert stats.rate_limited > 0
    # At most one window at a time below the ceiling while a suspicion is checked.
    assert min(sampled.paces) >= 0.75 * 100.0
    assert stats.pace == 100.0
    assert 0.03 <= stats.noise_share <= 0.2


async def test_the_emulators_rate_limit_brings_the_pace_below_it(
    emulator_factory: EmulatorFactory,
) -> None:
    emulator = await emulator_factory(rate=50.0)
    control = EmulatorControl(emulator)
    settings = paced_settings(emulator, api_max_rps=1000.0, api_max_concurrency=WORKERS)
    budget = RateBudget.from_settings(settings)
    async with SuperSimClient(settings, budget=budget) as client:
        await drive(client, budget, 5.0)
        # Converged near the limit, far below the ceiling (it climbs a little past the limit
        # and comes back), with few 429s from now on.
        assert 25.0 <= budget.stats().pace <= 1.5 * 50.0
        before = answered(await control.stats())
        sampled = await drive(client, budget, 5.0)
    assert max(sampled.paces) <= 1.5 * 50.0
    after = answered(await control.stats())
    sent = (after - before).total()
    assert (after - before)[429] <= 0.1 * sent
    assert budget.stats().noise_share < 0.02


async def test_a_resized_ceiling_holds_under_429s(emulator_factory: EmulatorFactory) -> None:
    # As an account budget does: a campaign's budget created at an unlimited rate, then resized
    # to its share. The controller decides how far below the share to go, never above it.
    emulator = await emulator_factory()
    await EmulatorControl(emulator).faults(rate_limit_rate=0.05)
    settings = paced_settings(emulator)
    budget = RateBudget(WORKERS, UNLIMITED_RATE)
    budget.resize(WORKERS, 40.0)
    async with SuperSimClient(settings, budget=budget) as client:
        started = time.monotonic()
        sampled = await drive(client, budget, 5.0)
        elapsed = time.monotonic() - started
    assert budget.max_rps == 40.0
    assert max(sampled.paces) <= 40.0
    # The ceiling's rate, and its burst of 0.1 s worth of requests.
    assert budget.stats().granted <= 40.0 * elapsed + 4
