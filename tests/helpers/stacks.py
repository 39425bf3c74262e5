"""Workflow test fixtures: real Temporal servers (from the wheels), the emulator, the worker."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner, Result

from simops.cli import app
from simops.clients.sims import SimOperationHandle, start_sim_operation
from simops.core.sim import SimStatus
from simops.devstack.in_process import LocalStack, emulator_settings, local_stack
from simops.emulator.server import RunningEmulator
from simops.runtime.settings import SimopsSettings
from simops.sim_messages import SimOperationRequest
from tests.helpers.supersim import EmulatorControl

CALLBACK_SECRET = "test-callback-secret"


Stack = LocalStack


def stack_settings(emulator: RunningEmulator, **overrides: Any) -> SimopsSettings:
    """Settings for the emulator with the tests' callback secret."""
    return emulator_settings(emulator, **{"callback_secret": CALLBACK_SECRET, **overrides})


def running_stack(
    env: WorkflowEnvironment, emulator: RunningEmulator, *, with_ingress: bool = True
) -> AbstractAsyncContextManager[LocalStack]:
    """The local stack on a test environment's Temporal, with the tests' callback secret."""
    return local_stack(
        env.client, emulator, with_ingress=with_ingress, callback_secret=CALLBACK_SECRET
    )


def campaign_test_stack(
    env: WorkflowEnvironment, emulator: RunningEmulator, directory: Path, **overrides: Any
) -> AbstractAsyncContextManager[LocalStack]:
    """The local stack most campaign tests run on: the tests' callback secret, campaigns
    stored under `directory`, and an account budget the emulator never limits."""
    settings: dict[str, Any] = {
        "callback_secret": CALLBACK_SECRET,
        "campaign_dir": directory / "campaigns",
        "api_max_rps": 2000.0,
        **overrides,
    }
    return local_stack(env.client, emulator, **settings)


def reach_from_the_cli(
    monkeypatch: pytest.MonkeyPatch, env: WorkflowEnvironment, stack: LocalStack, directory: Path
) -> None:
    """Point `simops` commands run in this test at the stack's Temporal, task queue and
    campaign store, from `directory`, whatever SIMOPS_* the environment had."""
    for name in [name for name in os.environ if name.startswith("SIMOPS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SIMOPS_TEMPORAL_ADDRESS", env.client.service_client.config.target_host)
    monkeypatch.setenv("SIMOPS_TASK_QUEUE", stack.settings.task_queue)
    monkeypatch.setenv("SIMOPS_CAMPAIGN_DIR", str(stack.settings.campaign_dir))
    monkeypatch.chdir(directory)


async def invoke_cli(*arguments: str, env: Mapping[str, str] | None = None) -> Result:
    """Run `simops ARGUMENTS` in this process (typer's `CliRunner`, `env` over the environment)
    in a thread, so that this event loop keeps serving the stack's worker and emulator."""
    return await asyncio.to_thread(CliRunner().invoke, app, list(arguments), env=env)


async def new_sim_sids(stack: Stack, count: int) -> list[str]:
    """SIDs of `count` SIMs still `new` in the emulator's parent account."""
    sids = [sim.sid async for sim in stack.api.list_sims(status=SimStatus.NEW, limit=count)]
    assert len(sids) == count, "the emulator has too few new SIMs"
    return sids


async def start_sim_activation(
    stack: Stack, sim_sid: str, *, client: Client | None = None
) -> SimOperationHandle:
    """Start activating `sim_sid` into the emulator's first Fleet on the stack's task queue,
    through `client` (the stack's own unless given)."""
    return await start_sim_operation(
        client or stack.client,
        stack.settings.task_queue,
        SimOperationRequest(
            sim_sid=sim_sid,
            operation="activate",
            status=SimStatus.ACTIVE,
            fleet=stack.emulator.parent.fleets[0],
        ),
    )


async def emulator_stats(emulator: RunningEmulator) -> dict[str, Any]:
    """The emulator's counters (`GET /_emulator/stats`), per-SIM writes included."""
    return await EmulatorControl(emulator).stats()


async def writes_per_sim(emulator: RunningEmulator) -> dict[str, int]:
    """State-changing writes per SIM since the emulator started (or its stats were reset)."""
    return dict((await emulator_stats(emulator))["state_changing_writes"]["per_sim"])


async def writes_total(emulator: RunningEmulator) -> int:
    """State-changing writes, all SIMs together, since the emulator started (or its stats were
    reset)."""
    total: int = (await emulator_stats(emulator))["state_changing_writes"]["total"]
    return total


async def emulator_writes(emulator: RunningEmulator) -> list[dict[str, Any]]:
    """The emulator's write log (`GET /_emulator/writes`): every state-changing write, oldest
    first, with its Unix time: the record simops is checked against, which simops never wrote."""
    return await EmulatorControl(emulator).writes()


async def wait_for_logged_writes(
    emulator: RunningEmulator,
    count: int = 1,
    *,
    of: set[str] | None = None,
    seconds: float = 30.0,
) -> None:
    """Wait until the emulator's write log holds `count` writes (of the SIMs in `of` only, when
    given); fail naming how many it saw."""
    writes: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        writes = [
            write
            for write in await emulator_writes(emulator)
            if of is None or write["sim_sid"] in of
        ]
        if len(writes) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{len(writes)} writes after {seconds} s, waiting for {count}")


async def set_faults(emulator: RunningEmulator, **faults: float) -> None:
    """Turn on the emulator's fault injection."""
    await EmulatorControl(emulator).faults(**faults)
