"""The callback ingress end to end: a real dev server, a waiting workflow, crafted callbacks."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from simops.callbacks.ingress import CallbackIngress, TemporalSignaller
from simops.callbacks.urls import callback_url
from simops.core.sim import SimStatus
from simops.sim_messages import OperationProgress
from simops.supersim.signatures import kore_signature, twilio_signature
from simops.workflows.sim_operation import SimOperationWorkflow
from tests.helpers.stacks import (
    CALLBACK_SECRET,
    Stack,
    new_sim_sids,
    running_stack,
    set_faults,
    stack_settings,
    start_sim_activation,
)


@dataclass
class Waiting:
    """A workflow waiting for the callback of a SIM that stays scheduled for a while."""

    stack: Stack
    handle: WorkflowHandle[SimOperationWorkflow, Any]
    sim_sid: str

    @property
    def url(self) -> str:
        base = self.stack.settings.callback_base_url
        assert base is not None
        return callback_url(base, CALLBACK_SECRET, self.handle.id)

    async def progress(self) -> OperationProgress:
        return await self.handle.query(SimOperationWorkflow.progress)


def signed(
    stack: Stack,
    url: str,
    fields: dict[str, str],
    *,
    token: str | None = None,
    method: str = "POST",
) -> tuple[str, bytes, dict[str, str]]:
    """A callback as the provider sends it: URL, body and signature headers."""
    account = stack.emulator.parent
    body = b"" if method == "GET" else urlencode(fields).encode()
    full_url = f"{url}?{urlencode(fields)}" if method == "GET" else url
    signed_params = [] if method == "GET" else list(fields.items())
    headers = {
        "kore-signature": kore_signature(account.webhook_secret, method, full_url, body),
        "X-Twilio-Signature": twilio_signature(account.auth_token, full_url, signed_params),
        "kore-idempotency-token": token or str(uuid.uuid4()),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return full_url, body, headers


async def send(method: str, url: str, body: bytes, headers: dict[str, str]) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, data=body or None, headers=headers) as response,
    ):
        return response.status


@pytest.fixture
async def waiting(dev_env: WorkflowEnvironment, emulator_factory: Any) -> AsyncIterator[Waiting]:
    emulator = await emulator_factory(seed_sims=3, scheduled_delay=(30.0, 30.0))
    await set_faults(emulator, drop_callback_rate=1.0)
    async with running_stack(dev_env, emulator) as stack:
        (sim_sid,) = await new_sim_sids(stack, 1)
        handle = await start_sim_activation(stack, sim_sid)
        case = Waiting(stack, handle, sim_sid)
        for _ in range(200):
            if (await case.progress()).state == "waiting_callback":
                break
            await asyncio.sleep(0.05)
        yield case
        with contextlib.suppress(RPCError):
            await handle.terminate("test over")


def _fields(case: Waiting, status: str = "active") -> dict[str, str]:
    return {
        "SimSid": case.sim_sid,
        "SimUniqueName": "",
        "SimStatus": status,
        "AccountSid": case.stack.emulator.parent.account_sid,
    }


async def test_forged_url_is_refused_and_nothing_signalled(waiting: Waiting) -> None:
    forged = waiting.url.rsplit("/", 1)[0] + "/" + "0" * 32
    url, body, headers = signed(waiting.stack, forged, _fields(waiting))

    assert await send("POST", url, body, headers) == 403
    assert (await waiting.progress()).callbacks_received == 0


async def test_bad_provider_signature_is_refused(waiting: Waiting) -> None:
    url, body, headers = signed(waiting.stack, waiting.url, _fields(waiting))
    headers["kore-signature"] = "f" * 64

    assert await send("POST", url, body, headers) == 403
    assert (await waiting.progress()).callbacks_received == 0


async def test_tampered_body_fails_the_twilio_signature(waiting: Waiting) -> None:
    url, _, headers = signed(waiting.stack, waiting.url, _fields(waiting))
    tampered = urlencode(_fields(waiting, status="inactive")).encode()

    assert await send("POST", url, tampered, headers) == 403


@pytest.mark.parametrize(
    "fields",
    [{"SimSid": "HS" + "1" * 32}, {"SimStatus": "active"}, {"SimSid": "x", "SimStatus": "bogus"}],
    ids=["no-status", "no-sid", "bad-status"],
)
async def test_malformed_callback_is_a_400(waiting: Waiting, fields: dict[str, str]) -> None:
    url, body, headers = signed(waiting.stack, waiting.url, fields)

    assert await send("POST", url, body, headers) == 400
    assert (await waiting.progress()).callbacks_received == 0


async def test_duplicates_are_dropped_even_by_another_ingress(waiting: Waiting) -> None:
    url, body, headers = signed(waiting.stack, waiting.url, _fields(waiting), token="event-1")

    assert await send("POST", url, body, headers) == 200
    assert await send("POST", url, body, headers) == 200
    ingress = waiting.stack.ingress
    assert ingress is not None and ingress.counts["duplicate"] == 1

    # A second, fresh ingress process knows nothing of the token: the workflow drops it.
    other = CallbackIngress(waiting.stack.settings, TemporalSignaller(waiting.stack.client))
    path = "/" + url.split("://", 1)[1].split("/", 1)[1]
    async with TestClient(TestServer(other.app())) as client:
        response = await client.post(path, data=body, headers=headers)
        assert response.status == 200
    assert other.counts["signalled"] == 1
    assert (await waiting.progress()).callbacks_received == 1


async def test_duplicates_arriving_together_are_signalled_once(waiting: Waiting) -> None:
    """Copies of one callback sent at once: the first is signalled, the others wait for it and
    are answered as duplicates, so the ingress's counts (and metrics) tell what happened."""
    url, body, headers = signed(waiting.stack, waiting.url, _fields(waiting), token="event-2")

    statuses = await asyncio.gather(*(send("POST", url, body, headers) for _ in range(5)))

    assert statuses == [200] * 5
    ingress = waiting.stack.ingress
    assert ingress is not None
    assert (ingress.counts["signalled"], ingress.counts["duplicate"]) == (1, 4)
    assert (await waiting.progress()).callbacks_received == 1


async def test_a_burst_of_callbacks_is_coalesced_into_few_signals(waiting: Waiting) -> None:
    requests = [signed(waiting.stack, waiting.url, _fields(waiting)) for _ in range(40)]

    statuses = await asyncio.gather(*(send("POST", *request) for request in requests))

    assert statuses == [200] * 40
    ingress = waiting.stack.ingress
    assert ingress is not None and ingress.counts["signalled"] == 40
    assert ingress.signals_sent < 10
    assert (await waiting.progress()).callbacks_received == 40


async def test_callback_claiming_a_status_the_sim_lacks_does_not_converge(
    waiting: Waiting,
) -> None:
    url, body, headers = signed(waiting.stack, waiting.url, _fields(waiting))

    assert await send("POST", url, body, headers) == 200
    for _ in range(100):
        progress = await waiting.progress()
        if progress.state == "polling":
            break
        await asyncio.sleep(0.05)
    assert progress.callbacks_received == 1
    assert progress.state == "polling"
    assert progress.observed is not None and progress.observed.status == SimStatus.SCHEDULED


async def test_get_callbacks_are_accepted(waiting: Waiting) -> None:
    url, body, headers = signed(waiting.stack, waiting.url, _fields(waiting), method="GET")

    assert await send("GET", url, body, headers) == 200
    assert (await waiting.progress()).callbacks_received == 1


async def test_callback_for_a_closed_or_unknown_workflow_is_answered_200(
    waiting: Waiting,
) -> None:
    await waiting.handle.terminate("closed before its callback")
    late_url, body, headers = signed(waiting.stack, waiting.url, _fields(waiting))
    base = waiting.stack.settings.callback_base_url
    assert base is not None
    unknown_url, unknown_body, unknown_headers = signed(
        waiting.stack, callback_url(base, CALLBACK_SECRET, "sim-never-started"), _fields(waiting)
    )

    assert await send("POST", late_url, body, headers) == 200
    assert await send("POST", unknown_url, unknown_body, unknown_headers) == 200
    ingress = waiting.stack.ingress
    assert ingress is not None and ingress.counts["no_workflow"] == 2


def test_ingress_refuses_to_start_without_a_callback_secret(emulator: Any) -> None:
    with pytest.raises(ValueError, match="SIMOPS_CALLBACK_SECRET"):
        CallbackIngress(stack_settings(emulator, callback_secret=None), _no_signal)


async def _no_signal(workflow_id: str, batch: Any) -> bool:
    raise AssertionError("nothing may be signalled")
