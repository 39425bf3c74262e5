"""Completion callbacks: parameters, both signatures, GET and POST, retries and faults."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from simops.supersim.signatures import (
    KORE_IDEMPOTENCY_HEADER,
    KORE_SIGNATURE_HEADER,
    TWILIO_SIGNATURE_HEADER,
    verify_kore_signature,
    verify_twilio_signature,
)
from tests.helpers.callback_receiver import CallbackReceiver
from tests.helpers.emulator_api import EmulatorApi
from tests.helpers.emulators import EmulatorFactory


@pytest.fixture
async def receiver() -> AsyncIterator[CallbackReceiver]:
    """A callback receiver on a free port."""
    started = CallbackReceiver()
    await started.start()
    yield started
    await started.stop()


async def _activate(api: EmulatorApi, sid: str, callback_url: str, method: str = "POST") -> None:
    answer = await api.post(
        f"/Sims/{sid}",
        Status="active",
        Fleet="default",
        CallbackUrl=callback_url,
        CallbackMethod=method,
    )
    assert answer.status == 202


async def test_post_callback_is_signed_both_ways(
    parent_api: EmulatorApi, receiver: CallbackReceiver
) -> None:
    sim = await parent_api.first_sim()
    url = f"{receiver.url}/hooks/sims/{sim['sid']}"
    await _activate(parent_api, sim["sid"], url)

    (callback,) = await receiver.wait_for(1)
    account = parent_api.account

    assert callback.method == "POST"
    assert callback.params == {
        "SimSid": sim["sid"],
        "SimUniqueName": "",
        "SimStatus": "active",
        "AccountSid": account.account_sid,
    }
    assert callback.headers["User-Agent"] == "KoreProxy/1.1"
    assert callback.headers[KORE_IDEMPOTENCY_HEADER]
    assert verify_kore_signature(
        account.webhook_secret, "POST", url, callback.body, callback.headers[KORE_SIGNATURE_HEADER]
    )
    assert verify_twilio_signature(
        account.auth_token,
        url,
        callback.params.items(),
        callback.headers[TWILIO_SIGNATURE_HEADER],
    )


async def test_get_callback_carries_the_parameters_in_the_query(
    parent_api: EmulatorApi, receiver: CallbackReceiver
) -> None:
    sim = await parent_api.first_sim()
    url = f"{receiver.url}/hooks/get"
    await _activate(parent_api, sim["sid"], url, method="GET")

    (callback,) = await receiver.wait_for(1)
    account = parent_api.account

    assert callback.method == "GET"
    assert callback.body == b""
    assert callback.params["SimStatus"] == "active"
    assert verify_kore_signature(
        account.webhook_secret, "GET", callback.url, b"", callback.headers[KORE_SIGNATURE_HEADER]
    )
    assert verify_twilio_signature(
        account.auth_token, callback.url, [], callback.headers[TWILIO_SIGNATURE_HEADER]
    )


async def test_failed_delivery_is_retried_with_the_same_token(
    parent_api: EmulatorApi, receiver: CallbackReceiver
) -> None:
    receiver.failures = 2
    sim = await parent_api.first_sim()
    await _activate(parent_api, sim["sid"], f"{receiver.url}/retry")

    first, second, third = await receiver.wait_for(3)
    stats = (await parent_api.control("GET", "/stats")).body["callbacks"]

    tokens = {callback.headers[KORE_IDEMPOTENCY_HEADER] for callback in (first, second, third)}
    assert len(tokens) == 1
    assert stats["retried"] == 2
    assert stats["sent"] == 1


async def test_unreachable_receiver_gives_up_after_a_few_attempts(
    parent_api: EmulatorApi, receiver: CallbackReceiver
) -> None:
    receiver.failures = 100
    sim = await parent_api.first_sim()
    await _activate(parent_api, sim["sid"], f"{receiver.url}/down")

    await receiver.wait_for(4)
    await asyncio.sleep(0.5)
    stats = (await parent_api.control("GET", "/stats")).body["callbacks"]

    assert len(receiver.received) == 4
    assert stats["failed"] == 1
    assert stats["sent"] == 0


async def test_duplicate_fault_repeats_the_idempotency_token(
    parent_api: EmulatorApi, receiver: CallbackReceiver
) -> None:
    await parent_api.control("POST", "/faults", {"duplicate_callback_rate": 1.0})
    sims = (await parent_api.get("/Sims", PageSize="2")).body["sims"]
    for sim in sims:
        await _activate(parent_api, sim["sid"], f"{receiver.url}/dup")

    callbacks = await receiver.wait_for(4)
    stats = (await parent_api.control("GET", "/stats")).body["callbacks"]

    tokens = [callback.headers[KORE_IDEMPOTENCY_HEADER] for callback in callbacks]
    assert len(set(tokens)) == 2
    assert sorted(tokens.count(token) for token in set(tokens)) == [2, 2]
    assert stats["duplicated"] == 2


async def test_drop_fault_sends_nothing_but_the_sim_completes(
    parent_api: EmulatorApi, receiver: CallbackReceiver
) -> None:
    await parent_api.control("POST", "/faults", {"drop_callback_rate": 1.0})
    sim = await parent_api.first_sim()
    await _activate(parent_api, sim["sid"], f"{receiver.url}/drop")

    await parent_api.wait_for_status(sim["sid"], "active")
    await asyncio.sleep(0.1)
    stats = (await parent_api.control("GET", "/stats")).body["callbacks"]

    assert receiver.received == []
    assert stats["dropped"] == 1


async def test_no_callback_for_immediate_updates_or_no_ops(
    parent_api: EmulatorApi, receiver: CallbackReceiver
) -> None:
    sim = await parent_api.first_sim()
    url = f"{receiver.url}/none"

    renamed = await parent_api.post(f"/Sims/{sim['sid']}", UniqueName="x", CallbackUrl=url)
    await asyncio.sleep(0.2)

    assert renamed.status == 200
    assert receiver.received == []


async def test_callback_delay_fault_holds_the_callback_back(
    parent_api: EmulatorApi, receiver: CallbackReceiver
) -> None:
    await parent_api.control("POST", "/faults", {"callback_delay_ms": 400})
    sim = await parent_api.first_sim()
    await _activate(parent_api, sim["sid"], f"{receiver.url}/late")

    await parent_api.wait_for_status(sim["sid"], "active")
    early = len(receiver.received)
    await receiver.wait_for(1)

    assert early == 0


async def test_callback_senders_bound_the_deliveries_in_flight(
    emulator_factory: EmulatorFactory, http: aiohttp.ClientSession, receiver: CallbackReceiver
) -> None:
    emulator = await emulator_factory(callback_senders=2, seed_sims=6)
    api = EmulatorApi(http, emulator, emulator.parent)
    receiver.hold_seconds = 0.2
    sims = (await api.get("/Sims", PageSize="6")).body["sims"]
    for sim in sims:
        await _activate(api, sim["sid"], f"{receiver.url}/slow/{sim['sid']}")

    await receiver.wait_for(6)

    assert receiver.most_at_once == 2
