"""Fixtures of the client tests: a client of the `emulator` fixture's parent, and its control."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from simops.emulator.server import RunningEmulator
from simops.supersim.client import SuperSimClient
from tests.supersim.support import EmulatorControl, make_client


@pytest.fixture
async def client(emulator: RunningEmulator) -> AsyncIterator[SuperSimClient]:
    """A client of the emulator's parent account over KORE OAuth2."""
    async with make_client(emulator) as client:
        yield client


@pytest.fixture
def control(emulator: RunningEmulator) -> EmulatorControl:
    """The `emulator` fixture's control API."""
    return EmulatorControl(emulator)
