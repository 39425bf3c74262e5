"""Fixtures shared by every test: emulators started in-process on a free port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import fields
from typing import Any

import pytest

from simops.emulator.server import EmulatorOptions, RunningEmulator, start_emulator

pytest_plugins = ["tests.temporal_fixtures"]

EmulatorFactory = Callable[..., Awaitable[RunningEmulator]]
"""`await emulator_factory(**EmulatorOptions fields)` starts one more emulator."""

DEFAULT_TEST_OPTIONS: dict[str, Any] = {
    "child_accounts": 1,
    "scheduled_delay": (0.05, 0.05),
    "seed_sims": 20,
    "seed_inventory": 5,
    "callback_retry_base": 0.05,
}
"""What the `emulator` fixture runs with; factories start from these too."""


@pytest.fixture
async def emulator_factory() -> AsyncIterator[EmulatorFactory]:
    """Start emulators with any `EmulatorOptions` fields; all are stopped at teardown."""
    started: list[RunningEmulator] = []
    known = {item.name for item in fields(EmulatorOptions)}

    async def start(**overrides: Any) -> RunningEmulator:
        unknown = set(overrides) - known
        if unknown:
            raise TypeError(f"unknown EmulatorOptions fields: {sorted(unknown)}")
        running = await start_emulator(EmulatorOptions(**{**DEFAULT_TEST_OPTIONS, **overrides}))
        started.append(running)
        return running

    yield start
    for running in reversed(started):
        await running.stop()


@pytest.fixture
async def emulator(emulator_factory: EmulatorFactory) -> RunningEmulator:
    """An emulator with one child account, 20 new Sims, 5 inventory pairs, 50 ms updates."""
    return await emulator_factory()
