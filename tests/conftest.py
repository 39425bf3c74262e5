"""Fixtures shared by every test: emulators started in-process on a free port, and a client of
the `emulator` fixture's parent account with its control API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import fields
from typing import Any

import pytest

from simops.emulator.server import EmulatorOptions, RunningEmulator, start_emulator
from simops.supersim.client import SuperSimClient
from tests.helpers.emulators import DEFAULT_TEST_OPTIONS, EmulatorFactory
from tests.helpers.supersim import EmulatorControl, make_client

pytest_plugins = ["tests.helpers.temporal_fixtures", "tests.helpers.postgres"]


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


@pytest.fixture
async def client(emulator: RunningEmulator) -> AsyncIterator[SuperSimClient]:
    """A client of the emulator's parent account over KORE OAuth2."""
    async with make_client(emulator) as client:
        yield client


@pytest.fixture
def control(emulator: RunningEmulator) -> EmulatorControl:
    """The `emulator` fixture's control API."""
    return EmulatorControl(emulator)
