"""The request log (`GET /_emulator/requests`): every answered API request with its time,
account, route, Sim and status, over real HTTP; `since` filters it and a stats reset empties it."""

from __future__ import annotations

import time
from typing import Any

import aiohttp

from simops.emulator.server import RunningEmulator
from tests.helpers.emulator_api import EmulatorApi
from tests.helpers.emulators import EmulatorFactory
from tests.helpers.supersim import EmulatorControl

ENTRY_FIELDS = {"at", "account_sid", "method", "route", "sim_sid", "status"}


async def _logged(api: EmulatorApi) -> list[dict[str, Any]]:
    answer = await api.control("GET", "/requests")
    assert answer.status == 200
    entries: list[dict[str, Any]] = answer.body["requests"]
    return entries


def _what(entry: dict[str, Any]) -> tuple[Any, ...]:
    """An entry without its time: who asked what of which Sim, and the answer."""
    return (
        entry["account_sid"],
        entry["method"],
        entry["route"],
        entry["sim_sid"],
        entry["status"],
    )


async def test_fetch_and_update_of_a_sim_are_logged_with_account_route_sim_and_status(
    parent_api: EmulatorApi, child_api: EmulatorApi
) -> None:
    parent = parent_api.account.account_sid
    child = child_api.account.account_sid
    started = time.time()
    sim = await parent_api.first_sim()
    sid = sim["sid"]

    fetched = await parent_api.get(f"/Sims/{sid}")
    updated = await parent_api.post(f"/Sims/{sid}", Status="active", Fleet="default")
    hidden = await child_api.get(f"/Sims/{sid}")
    await parent_api.control("GET", "/stats")
    log = await _logged(parent_api)
    finished = time.time()

    assert (fetched.status, updated.status, hidden.status) == (200, 202, 404)
    # The child's fetch counts against the child, whose the Sim is not: the log names the
    # requesting account, and the Sim as the path named it even when the answer is 404.
    assert [_what(entry) for entry in log] == [
        (parent, "GET", "/v1/Sims", None, 200),
        (parent, "GET", "/v1/Sims/{sid}", sid, 200),
        (parent, "POST", "/v1/Sims/{sid}", sid, 202),
        (child, "GET", "/v1/Sims/{sid}", sid, 404),
    ]
    assert all(set(entry) == ENTRY_FIELDS for entry in log)
    times = [entry["at"] for entry in log]
    assert started <= times[0] and times == sorted(times) and times[-1] <= finished


async def test_unauthenticated_and_token_requests_are_logged_without_an_account(
    parent_api: EmulatorApi, http: aiohttp.ClientSession, emulator: RunningEmulator
) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_id": emulator.parent.client_id,
        "client_secret": emulator.parent.client_secret,
    }

    async with http.get(f"{emulator.api_url}/Sims") as anonymous:
        anonymous_status = anonymous.status
    async with http.post(emulator.token_url, data=form) as token:
        token_status = token.status
    log = await _logged(parent_api)

    assert (anonymous_status, token_status) == (401, 200)
    assert [_what(entry) for entry in log] == [
        (None, "GET", "/v1/Sims", None, 401),
        (None, "POST", "/api-services/v1/auth/token", None, 200),
    ]


async def test_requests_refused_by_the_rate_limit_are_logged_429_against_their_account(
    emulator_factory: EmulatorFactory, http: aiohttp.ClientSession
) -> None:
    emulator = await emulator_factory(rate=2.0)
    parent = EmulatorApi(http, emulator, emulator.parent)
    child = EmulatorApi(http, emulator, emulator.accounts[1])

    answers = [await parent.get("/Sims", PageSize="1") for _ in range(5)]
    child_answer = await child.get("/Sims")
    log = await _logged(parent)

    statuses = [answer.status for answer in answers]
    assert 429 in statuses
    assert child_answer.status == 200
    assert [(entry["account_sid"], entry["status"]) for entry in log] == [
        *((emulator.parent.account_sid, status) for status in statuses),
        (emulator.accounts[1].account_sid, 200),
    ]
    refused = [entry for entry in log if entry["status"] == 429]
    assert {_what(entry) for entry in refused} == {
        (emulator.parent.account_sid, "GET", "/v1/Sims", None, 429)
    }


async def test_since_keeps_the_entries_at_or_after_it(
    parent_api: EmulatorApi, control: EmulatorControl
) -> None:
    await parent_api.get("/Sims", PageSize="1")
    between = time.time()
    await parent_api.get("/Fleets")
    await parent_api.get("/Networks")

    log = await control.requests()
    after_between = await control.requests(since=between)
    from_last_two = await control.requests(since=log[1]["at"])
    after_all = await control.requests(since=log[-1]["at"] + 1.0)
    not_a_time = await parent_api.control("GET", "/requests?since=soon")
    not_finite = await parent_api.control("GET", "/requests?since=nan")

    assert [entry["route"] for entry in log] == ["/v1/Sims", "/v1/Fleets", "/v1/Networks"]
    assert [entry["route"] for entry in after_between] == ["/v1/Fleets", "/v1/Networks"]
    assert from_last_two == log[1:]
    assert after_all == []
    assert (not_a_time.status, not_a_time.body["code"]) == (400, 20001)
    assert (not_finite.status, not_finite.body["code"]) == (400, 20001)


async def test_stats_reset_empties_the_request_log(parent_api: EmulatorApi) -> None:
    await parent_api.get("/Sims", PageSize="1")
    before = await _logged(parent_api)

    reset = await parent_api.control("POST", "/stats/reset")
    emptied = await _logged(parent_api)
    await parent_api.get("/Fleets")
    after = await _logged(parent_api)

    assert reset.status == 200
    assert [entry["route"] for entry in before] == ["/v1/Sims"]
    assert emptied == []
    assert [entry["route"] for entry in after] == ["/v1/Fleets"]
