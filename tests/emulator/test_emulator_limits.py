"""Per-account limits and injected faults: 429s, 500s, latency; the control API is never hit."""

from __future__ import annotations

import asyncio

import aiohttp

from tests.helpers.emulator_api import EmulatorApi
from tests.helpers.emulators import EmulatorFactory


async def test_rate_limit_answers_429_with_retry_after(
    emulator_factory: EmulatorFactory, http: aiohttp.ClientSession
) -> None:
    emulator = await emulator_factory(rate=5.0)
    parent = EmulatorApi(http, emulator, emulator.parent)
    child = EmulatorApi(http, emulator, emulator.accounts[1])

    answers = [await parent.get("/Sims", PageSize="1") for _ in range(8)]
    child_answer = await child.get("/Sims")
    limited = [answer for answer in answers if answer.status == 429]

    assert [answer.status for answer in answers[:5]] == [200] * 5
    assert limited
    assert limited[0].body["code"] == 20429
    assert int(limited[0].headers["Retry-After"]) >= 1
    assert child_answer.status == 200


async def test_concurrency_limit_refuses_requests_beyond_it(
    emulator_factory: EmulatorFactory, http: aiohttp.ClientSession
) -> None:
    emulator = await emulator_factory(max_concurrency=2)
    parent = EmulatorApi(http, emulator, emulator.parent)
    await parent.control("POST", "/faults", {"latency_ms": 200})

    answers = await asyncio.gather(*(parent.get("/Sims", PageSize="1") for _ in range(5)))
    statuses = sorted(answer.status for answer in answers)

    assert statuses == [200, 200, 429, 429, 429]
    refused = next(answer for answer in answers if answer.status == 429)
    assert refused.body["code"] == 20429
    stats = (await parent.control("GET", "/stats")).body
    assert stats["requests"]["GET /v1/Sims"] == {"200": 2, "429": 3}


async def test_error_fault_gives_500_but_spares_control_and_token_routes(
    parent_api: EmulatorApi,
) -> None:
    active = await parent_api.control("POST", "/faults", {"error_rate": 1.0})
    api_answer = await parent_api.get("/Sims")
    control_answer = await parent_api.control("GET", "/faults")
    emulator = parent_api.emulator
    form = {
        "grant_type": "client_credentials",
        "client_id": emulator.parent.client_id,
        "client_secret": emulator.parent.client_secret,
    }
    async with parent_api.session.post(emulator.token_url, data=form) as token_answer:
        token_status = token_answer.status

    assert active.body["error_rate"] == 1.0
    assert (api_answer.status, api_answer.body["code"]) == (500, 20500)
    assert control_answer.status == 200
    assert token_status == 200


async def test_error_after_write_applies_the_write_and_answers_500(
    parent_api: EmulatorApi,
) -> None:
    sim = await parent_api.first_sim()
    await parent_api.control("POST", "/faults", {"error_after_write_rate": 1.0})

    written = await parent_api.post(f"/Sims/{sim['sid']}", UniqueName="lost-answer")
    read = await parent_api.get(f"/Sims/{sim['sid']}")
    stats = (await parent_api.control("GET", "/stats")).body

    assert (written.status, written.body["code"]) == (500, 20500)
    assert (read.status, read.body["unique_name"]) == (200, "lost-answer")
    assert stats["state_changing_writes"]["per_sim"] == {sim["sid"]: 1}


async def test_injected_rate_limit_has_retry_after(parent_api: EmulatorApi) -> None:
    await parent_api.control("POST", "/faults", {"rate_limit_rate": 1.0})

    answer = await parent_api.get("/Sims")

    assert (answer.status, answer.body["code"]) == (429, 20429)
    assert answer.headers["Retry-After"] == "1"


async def test_faults_are_validated_and_can_be_cleared(parent_api: EmulatorApi) -> None:
    unknown = await parent_api.control("POST", "/faults", {"meteor_rate": 0.5})
    out_of_range = await parent_api.control("POST", "/faults", {"error_rate": 2})
    await parent_api.control("POST", "/faults", {"error_rate": 0.5, "latency_ms": 10})
    cleared = await parent_api.control("DELETE", "/faults")

    assert unknown.status == 400 and "meteor_rate" in unknown.body["message"]
    assert out_of_range.status == 400
    assert set(cleared.body.values()) == {0.0}
    assert set(cleared.body) == {
        "error_rate",
        "error_after_write_rate",
        "rate_limit_rate",
        "latency_ms",
        "drop_callback_rate",
        "duplicate_callback_rate",
        "stuck_rate",
        "callback_delay_ms",
    }
