"""The stack in one process: an ingress and a worker wired to an emulator and a Temporal client.

Tests, benchmarks and the history recorder use it; `simops dev` runs the same parts, each in a
process of its own (`simops.devstack.processes`).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web
from temporalio.client import Client

from simops.callbacks.ingress import CallbackIngress, TemporalSignaller
from simops.emulator.server import EmulatorAccount, RunningEmulator
from simops.runtime.ports import free_port
from simops.runtime.settings import SimopsSettings
from simops.supersim.client import SuperSimClient
from simops.worker import account_budget, build_worker


class EmulatorEndpoint(Protocol):
    """What simops needs to know of an emulator, in this process or another."""

    @property
    def api_url(self) -> str:
        """The base URL of its Super SIM API."""

    @property
    def parent(self) -> EmulatorAccount:
        """The parent account and its credentials."""

    @property
    def accounts(self) -> list[EmulatorAccount]:
        """Every account, the parent first."""


@dataclass
class LocalStack:
    """A worker and (optionally) a callback ingress serving one emulator."""

    client: Client
    emulator: RunningEmulator
    settings: SimopsSettings
    api: SuperSimClient
    ingress: CallbackIngress | None


def emulator_settings(emulator: EmulatorEndpoint, **overrides: Any) -> SimopsSettings:
    """Settings for the emulator's parent account, read from nothing on disk."""
    fields: dict[str, Any] = {
        "api_url": emulator.api_url,
        "twilio_account_sid": emulator.parent.account_sid,
        "twilio_auth_token": emulator.parent.auth_token,
        "callback_secret": uuid.uuid4().hex,
        "kore_webhook_secrets": {a.account_sid: a.webhook_secret for a in emulator.accounts},
        "twilio_auth_tokens": {a.account_sid: a.auth_token for a in emulator.accounts},
        "task_queue": f"simops-{uuid.uuid4()}",
    }
    fields.update(overrides)
    return SimopsSettings(_env_file=None, **fields)


@asynccontextmanager
async def local_stack(
    client: Client,
    emulator: RunningEmulator,
    *,
    with_ingress: bool = True,
    **overrides: Any,
) -> AsyncIterator[LocalStack]:
    """Start the ingress (on a free port) and a worker; stop both on exit."""
    port = free_port()
    settings = emulator_settings(
        emulator, callback_base_url=f"http://127.0.0.1:{port}", **overrides
    )
    runner: web.AppRunner | None = None
    ingress: CallbackIngress | None = None
    if with_ingress:
        ingress = CallbackIngress(settings, TemporalSignaller(client))
        runner = web.AppRunner(ingress.app(), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
    account = account_budget(settings)
    try:
        async with (
            SuperSimClient.from_settings(settings) as api,
            build_worker(client, settings, api, account),
        ):
            yield LocalStack(client, emulator, settings, api, ingress)
    finally:
        account.close()
        if runner is not None:
            await runner.cleanup()
