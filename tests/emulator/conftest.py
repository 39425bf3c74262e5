"""Fixtures of the emulator tests: a client session and the API as the parent or the child."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from simops.emulator.server import RunningEmulator
from tests.helpers.emulator_api import EmulatorApi


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def parent_api(http: aiohttp.ClientSession, emulator: RunningEmulator) -> EmulatorApi:
    """The `emulator` fixture's API with the parent's credentials."""
    return EmulatorApi(http, emulator, emulator.parent)


@pytest.fixture
def child_api(http: aiohttp.ClientSession, emulator: RunningEmulator) -> EmulatorApi:
    """The `emulator` fixture's API with the child's credentials."""
    return EmulatorApi(http, emulator, emulator.accounts[1])
