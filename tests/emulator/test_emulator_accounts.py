"""Accounts: visibility between parent and child, account moves, Basic and bearer auth."""

from __future__ import annotations

import asyncio

import aiohttp

from simops.emulator.server import RunningEmulator
from tests.helpers.emulator_api import EmulatorApi
from tests.helpers.emulators import EmulatorFactory


async def test_accounts_control_lists_parent_first(parent_api: EmulatorApi) -> None:
    accounts = (await parent_api.control("GET", "/accounts")).body

    assert [account["parent_account_sid"] for account in accounts] == [
        None,
        accounts[0]["account_sid"],
    ]
    assert all(len(account["fleets"]) == 2 for account in accounts)
    assert {"auth_token", "client_id", "client_secret", "webhook_secret"} <= set(accounts[1])


async def test_move_to_child_then_child_sees_it_and_parent_still_does(
    parent_api: EmulatorApi, child_api: EmulatorApi
) -> None:
    sim = await parent_api.first_sim()
    child_sid = child_api.account.account_sid

    hidden_before = await child_api.get(f"/Sims/{sim['sid']}")
    moved = await parent_api.post(f"/Sims/{sim['sid']}", AccountSid=child_sid)
    seen_by_child = await child_api.get(f"/Sims/{sim['sid']}")
    seen_by_parent = await parent_api.get(f"/Sims/{sim['sid']}")
    child_list = await child_api.get("/Sims")
    parent_list = await parent_api.get("/Sims", PageSize="100")

    assert hidden_before.status == 404
    assert (moved.status, moved.body["account_sid"]) == (200, child_sid)
    assert seen_by_child.status == 200
    assert seen_by_parent.body["account_sid"] == child_sid
    assert [item["sid"] for item in child_list.body["sims"]] == [sim["sid"]]
    listed = parent_list.body["sims"]
    assert len(listed) == 20
    assert listed[-1]["sid"] == sim["sid"] and listed[-1]["account_sid"] == child_sid


async def test_parent_moves_a_child_sim_back_with_a_fleet_of_the_destination(
    parent_api: EmulatorApi, child_api: EmulatorApi, emulator: RunningEmulator
) -> None:
    sim = await parent_api.first_sim()
    child = emulator.accounts[1]
    await parent_api.post(f"/Sims/{sim['sid']}", AccountSid=child.account_sid, Fleet="iot-eu")
    in_child = await child_api.get(f"/Sims/{sim['sid']}")

    without_fleet = await parent_api.post(
        f"/Sims/{sim['sid']}", AccountSid=emulator.parent.account_sid
    )
    foreign_fleet = await parent_api.post(
        f"/Sims/{sim['sid']}", AccountSid=emulator.parent.account_sid, Fleet=child.fleets[0]
    )
    back = await parent_api.post(
        f"/Sims/{sim['sid']}", AccountSid=emulator.parent.account_sid, Fleet="default"
    )

    assert in_child.body["fleet_sid"] == child.fleets[1]
    assert (without_fleet.status, without_fleet.body["code"]) == (400, 83006)
    assert (foreign_fleet.status, foreign_fleet.body["code"]) == (400, 83006)
    assert back.status == 200
    assert back.body["account_sid"] == emulator.parent.account_sid
    assert back.body["fleet_sid"] == emulator.parent.fleets[0]


async def test_child_cannot_move_to_parent_nor_see_parent_sims(
    parent_api: EmulatorApi, child_api: EmulatorApi, emulator: RunningEmulator
) -> None:
    sim = await parent_api.first_sim()
    await parent_api.post(f"/Sims/{sim['sid']}", AccountSid=child_api.account.account_sid)

    to_parent = await child_api.post(f"/Sims/{sim['sid']}", AccountSid=emulator.parent.account_sid)
    unknown_account = await parent_api.post(f"/Sims/{sim['sid']}", AccountSid="AC" + "1" * 32)
    parent_sims = await child_api.get("/Sims")
    other = (await parent_api.get("/Sims", PageSize="2")).body["sims"][1]
    foreign = await child_api.post(f"/Sims/{other['sid']}", UniqueName="mine")

    assert (to_parent.status, to_parent.body["code"]) == (400, 20001)
    assert "AccountSid" in to_parent.body["message"]
    assert (unknown_account.status, unknown_account.body["code"]) == (400, 20001)
    assert [item["sid"] for item in parent_sims.body["sims"]] == [sim["sid"]]
    assert foreign.status == 404


async def test_active_sims_cannot_move_and_inactive_need_the_beta(
    emulator_factory: EmulatorFactory, http: aiohttp.ClientSession
) -> None:
    for beta in (False, True):
        emulator = await emulator_factory(inactive_move_beta=beta)
        api = EmulatorApi(http, emulator, emulator.parent)
        sim = await api.first_sim()
        await api.post(f"/Sims/{sim['sid']}", Status="active", Fleet="default")
        await api.wait_for_status(sim["sid"], "active")
        child_sid = emulator.accounts[1].account_sid

        active_move = await api.post(f"/Sims/{sim['sid']}", AccountSid=child_sid, Fleet="")
        await api.post(f"/Sims/{sim['sid']}", Status="inactive")
        await api.wait_for_status(sim["sid"], "inactive")
        inactive_move = await api.post(f"/Sims/{sim['sid']}", AccountSid=child_sid, Fleet="")

        assert (active_move.status, active_move.body["code"]) == (400, 83010)
        if beta:
            assert inactive_move.status == 200
            assert inactive_move.body["account_sid"] == child_sid
            assert inactive_move.body["fleet_sid"] is None
        else:
            assert (inactive_move.status, inactive_move.body["code"]) == (400, 83010)


async def test_bearer_tokens_work_then_expire(
    emulator_factory: EmulatorFactory, http: aiohttp.ClientSession
) -> None:
    emulator = await emulator_factory(token_ttl=0.3)
    parent = emulator.parent
    form = {
        "grant_type": "client_credentials",
        "client_id": parent.client_id,
        "client_secret": parent.client_secret,
    }
    async with http.post(emulator.token_url, data=form) as response:
        token = await response.json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}

    async with http.get(f"{emulator.api_url}/Sims", headers=headers) as fresh:
        fresh_status = fresh.status
    await asyncio.sleep(0.4)
    async with http.get(f"{emulator.api_url}/Sims", headers=headers) as expired:
        expired_body = await expired.json()
        expired_status = expired.status

    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 0.3
    assert fresh_status == 200
    assert (expired_status, expired_body["code"]) == (401, 20003)


async def test_bad_credentials_are_401_20003(
    emulator: RunningEmulator, http: aiohttp.ClientSession
) -> None:
    parent = emulator.parent
    bad_secret = {
        "grant_type": "client_credentials",
        "client_id": parent.client_id,
        "client_secret": "wrong",
    }
    async with http.post(emulator.token_url, data=bad_secret) as token_answer:
        token_body = await token_answer.json()
        token_status = token_answer.status
    wrong_token = aiohttp.encode_basic_auth(parent.account_sid, "wrong")
    async with http.get(
        f"{emulator.api_url}/Sims", headers={"Authorization": wrong_token}
    ) as basic:
        basic_body = await basic.json()
        basic_status = basic.status
    async with http.get(f"{emulator.api_url}/Sims") as anonymous:
        anonymous_status = anonymous.status
    bogus = {"Authorization": "Bearer nope"}
    async with http.get(f"{emulator.api_url}/Sims", headers=bogus) as bearer:
        bearer_status = bearer.status

    assert (token_status, token_body["error"]) == (401, "invalid_client")
    assert (basic_status, basic_body["code"]) == (401, 20003)
    assert anonymous_status == 401
    assert bearer_status == 401


async def test_parent_token_authenticates_as_a_child(
    emulator: RunningEmulator, http: aiohttp.ClientSession
) -> None:
    child = emulator.accounts[1]
    as_child = aiohttp.encode_basic_auth(child.account_sid, emulator.parent.auth_token)
    async with http.get(f"{emulator.api_url}/Sims", headers={"Authorization": as_child}) as answer:
        body = await answer.json()

    assert answer.status == 200
    assert body["sims"] == []
