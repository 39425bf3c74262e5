"""Sims: register, fetch, list with filters and pagination, and updates with their status codes."""

from __future__ import annotations

from typing import Any

from simops.emulator.server import RunningEmulator
from tests.helpers.emulator_api import EmulatorApi


async def _inventory(parent_api: EmulatorApi) -> list[dict[str, str]]:
    answer = await parent_api.control("GET", "/inventory")
    pairs: list[dict[str, str]] = answer.body["inventory"]
    return pairs


async def test_register_claims_an_inventory_sim_once(parent_api: EmulatorApi) -> None:
    pair = (await _inventory(parent_api))[0]
    form = {"Iccid": pair["iccid"], "RegistrationCode": pair["registration_code"]}

    created = await parent_api.post("/Sims", **form)
    again = await parent_api.post("/Sims", **form)

    assert created.status == 201
    assert created.body["status"] == "new"
    assert created.body["iccid"] == pair["iccid"]
    assert (again.status, again.body["code"]) == (400, 83003)
    remaining = await _inventory(parent_api)
    assert pair["iccid"] not in [item["iccid"] for item in remaining]


async def test_register_refuses_a_wrong_code_and_missing_parameters(
    parent_api: EmulatorApi, child_api: EmulatorApi
) -> None:
    pair = (await _inventory(parent_api))[0]

    wrong = await parent_api.post("/Sims", Iccid=pair["iccid"], RegistrationCode="WRONG00000")
    missing = await parent_api.post("/Sims", Iccid=pair["iccid"])
    taken = await parent_api.post(
        "/Sims", **{"Iccid": pair["iccid"], "RegistrationCode": pair["registration_code"]}
    )
    elsewhere = await child_api.post(
        "/Sims", Iccid=pair["iccid"], RegistrationCode=pair["registration_code"]
    )

    assert (wrong.status, wrong.body["code"]) == (400, 83002)
    assert (missing.status, missing.body["code"]) == (400, 83001)
    assert taken.status == 201
    assert (elsewhere.status, elsewhere.body["code"]) == (400, 83002)


async def test_fetch_by_sid_and_by_unique_name(parent_api: EmulatorApi) -> None:
    sim = await parent_api.first_sim()
    renamed = await parent_api.post(f"/Sims/{sim['sid']}", UniqueName="tracker-1")

    by_sid = await parent_api.get(f"/Sims/{sim['sid']}")
    by_name = await parent_api.get("/Sims/tracker-1")
    unknown = await parent_api.get("/Sims/HS" + "0" * 32)

    assert renamed.status == 200
    assert by_sid.body["unique_name"] == "tracker-1"
    assert by_name.body["sid"] == sim["sid"]
    assert by_sid.body["links"]["billing_periods"].endswith(f"/Sims/{sim['sid']}/BillingPeriods")
    assert (unknown.status, unknown.body["code"]) == (404, 20404)


async def _all_pages(api: EmulatorApi, **params: str) -> list[dict[str, Any]]:
    answer = await api.get("/Sims", **params)
    pages = [answer.body]
    while pages[-1]["meta"]["next_page_url"] is not None:
        pages.append((await api.get(pages[-1]["meta"]["next_page_url"])).body)
    return pages


async def test_pagination_walks_every_sim_once(parent_api: EmulatorApi) -> None:
    pages = await _all_pages(parent_api, PageSize="7")

    sids = [sim["sid"] for page in pages for sim in page["sims"]]
    assert len(sids) == 20 and len(set(sids)) == 20
    assert [page["meta"]["page"] for page in pages] == [0, 1, 2]
    assert [len(page["sims"]) for page in pages] == [7, 7, 6]
    assert pages[0]["meta"]["previous_page_url"] is None
    assert pages[-1]["meta"]["next_page_url"] is None
    assert pages[0]["meta"]["key"] == "sims"
    assert pages[0]["meta"]["first_page_url"].endswith("/v1/Sims?PageSize=7&Page=0")


async def test_previous_page_links_lead_back(parent_api: EmulatorApi) -> None:
    pages = await _all_pages(parent_api, PageSize="7")

    back = await parent_api.get(pages[2]["meta"]["previous_page_url"])
    first = await parent_api.get(pages[1]["meta"]["previous_page_url"])

    assert [sim["sid"] for sim in back.body["sims"]] == [sim["sid"] for sim in pages[1]["sims"]]
    assert back.body["meta"]["page"] == 1
    assert [sim["sid"] for sim in first.body["sims"]] == [sim["sid"] for sim in pages[0]["sims"]]


async def test_filters_by_status_fleet_and_iccid(
    parent_api: EmulatorApi, emulator: RunningEmulator
) -> None:
    sim = await parent_api.first_sim()
    fleet_sid = emulator.parent.fleets[0]
    await parent_api.post(f"/Sims/{sim['sid']}", Fleet=fleet_sid)

    by_fleet = await parent_api.get("/Sims", Fleet="default")
    by_status = await _all_pages(parent_api, Status="new", PageSize="3")
    by_iccid = await parent_api.get("/Sims", Iccid=sim["iccid"])
    unknown_iccid = await parent_api.get("/Sims", Iccid="89883070000999999999")
    unknown_fleet = await parent_api.get("/Sims", Fleet="no-such-fleet")

    assert [item["sid"] for item in by_fleet.body["sims"]] == [sim["sid"]]
    assert sum(len(page["sims"]) for page in by_status) == 20
    assert "Status=new" in by_status[0]["meta"]["next_page_url"]
    assert [item["sid"] for item in by_iccid.body["sims"]] == [sim["sid"]]
    assert unknown_iccid.body["sims"] == []
    assert unknown_fleet.body["sims"] == []


async def test_page_size_and_page_token_are_checked(parent_api: EmulatorApi) -> None:
    too_big = await parent_api.get("/Sims", PageSize="1001")
    too_small = await parent_api.get("/Sims", PageSize="0")
    bad_token = await parent_api.get("/Sims", PageToken="garbage", Page="1")
    bad_status = await parent_api.get("/Sims", Status="sleeping")

    assert (too_big.status, too_big.body["code"]) == (400, 20001)
    assert "PageSize" in too_big.body["message"]
    assert (too_small.status, too_small.body["code"]) == (400, 20001)
    assert (bad_token.status, bad_token.body["code"]) == (400, 21481)
    assert (bad_status.status, bad_status.body["code"]) == (400, 20001)


async def test_activation_is_scheduled_then_completes(parent_api: EmulatorApi) -> None:
    sim = await parent_api.first_sim()

    accepted = await parent_api.post(f"/Sims/{sim['sid']}", Status="active", Fleet="default")
    repeated = await parent_api.post(f"/Sims/{sim['sid']}", Status="active")
    conflicting = await parent_api.post(f"/Sims/{sim['sid']}", Status="inactive")
    final = await parent_api.wait_for_status(sim["sid"], "active")
    no_op = await parent_api.post(f"/Sims/{sim['sid']}", Status="active")

    assert (accepted.status, accepted.body["status"]) == (202, "scheduled")
    assert (repeated.status, repeated.body["status"]) == (200, "scheduled")
    assert (conflicting.status, conflicting.body["code"]) == (409, 83009)
    assert final["fleet_sid"] == accepted.body["fleet_sid"]
    assert (no_op.status, no_op.body["status"]) == (200, "active")


async def test_fleet_change_of_an_active_sim_keeps_the_old_fleet_until_done(
    parent_api: EmulatorApi, emulator: RunningEmulator
) -> None:
    sim = await parent_api.first_sim()
    old_fleet, new_fleet = emulator.parent.fleets[:2]
    await parent_api.post(f"/Sims/{sim['sid']}", Status="active", Fleet=old_fleet)
    await parent_api.wait_for_status(sim["sid"], "active")

    changing = await parent_api.post(f"/Sims/{sim['sid']}", Fleet=new_fleet)
    done = await parent_api.wait_for_status(sim["sid"], "active")

    assert (changing.status, changing.body["status"]) == (202, "scheduled")
    assert changing.body["fleet_sid"] == old_fleet
    assert done["fleet_sid"] == new_fleet


async def test_rule_violations_carry_their_codes(parent_api: EmulatorApi) -> None:
    sims = (await parent_api.get("/Sims", PageSize="3")).body["sims"]
    first, second, third = (sim["sid"] for sim in sims)
    await parent_api.post(f"/Sims/{first}", UniqueName="taken")

    duplicate = await parent_api.post(f"/Sims/{second}", UniqueName="taken")
    unknown_fleet = await parent_api.post(f"/Sims/{second}", Fleet="nope")
    no_fleet = await parent_api.post(f"/Sims/{second}", Status="ready")
    inactive_from_new = await parent_api.post(f"/Sims/{third}", Status="inactive")
    not_requestable = await parent_api.post(f"/Sims/{third}", Status="new")

    assert (duplicate.status, duplicate.body["code"]) == (400, 83011)
    assert (unknown_fleet.status, unknown_fleet.body["code"]) == (400, 83006)
    assert (no_fleet.status, no_fleet.body["code"]) == (400, 83007)
    assert (inactive_from_new.status, inactive_from_new.body["code"]) == (400, 83010)
    assert (not_requestable.status, not_requestable.body["code"]) == (400, 20001)
    assert "Status" in not_requestable.body["message"]


async def test_state_changing_writes_are_counted_per_sim(parent_api: EmulatorApi) -> None:
    sim = await parent_api.first_sim()
    await parent_api.post(f"/Sims/{sim['sid']}", UniqueName="a")
    await parent_api.post(f"/Sims/{sim['sid']}", UniqueName="a")
    await parent_api.post(f"/Sims/{sim['sid']}", Fleet="default")

    stats = (await parent_api.control("GET", "/stats")).body
    lean = (await parent_api.control("GET", "/stats?per_sim=false")).body

    assert stats["state_changing_writes"]["total"] == 2
    assert stats["state_changing_writes"]["per_sim"] == {sim["sid"]: 2}
    assert stats["max_writes_per_sim"] == 2
    assert stats["requests"]["POST /v1/Sims/{sid}"] == {"200": 3}
    assert "per_sim" not in lean["state_changing_writes"]
