"""What the network does by itself: ready to active, billing periods, stuck Sims, the clock."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

import aiohttp

from simops.emulator.lifecycle import add_months
from tests.helpers.emulator_api import EmulatorApi
from tests.helpers.emulators import EmulatorFactory

DAY = 86400


async def _ready_sim(api: EmulatorApi) -> dict[str, Any]:
    sim = await api.first_sim()
    answer = await api.post(f"/Sims/{sim['sid']}", Status="ready", Fleet="default")
    assert answer.status == 202
    return await api.wait_for_status(sim["sid"], "ready")


async def _parent_and_child(
    emulator_factory: EmulatorFactory, http: aiohttp.ClientSession
) -> tuple[EmulatorApi, EmulatorApi]:
    """The parent account and its first child, on an emulator that moves inactive SIMs."""
    emulator = await emulator_factory(inactive_move_beta=True)
    parent = EmulatorApi(http, emulator, emulator.parent)
    return parent, EmulatorApi(http, emulator, emulator.accounts[1])


async def _active_sim(api: EmulatorApi) -> dict[str, Any]:
    sim = await api.first_sim()
    await api.post(f"/Sims/{sim['sid']}", Status="active", Fleet="default")
    await api.wait_for_status(sim["sid"], "active")
    return sim


async def _move_inactive(parent: EmulatorApi, child: EmulatorApi, sid: str) -> None:
    """Deactivate the SIM, then move it (out of its Fleet) to the child account."""
    await parent.post(f"/Sims/{sid}", Status="inactive")
    await parent.wait_for_status(sid, "inactive")
    await parent.post(f"/Sims/{sid}", AccountSid=child.account.account_sid, Fleet="")


async def _advance(api: EmulatorApi, seconds: float) -> None:
    answer = await api.control("POST", "/clock", {"advance_seconds": seconds})
    assert answer.status == 200


async def _periods(api: EmulatorApi, sid: str) -> list[dict[str, Any]]:
    answer = await api.get(f"/Sims/{sid}/BillingPeriods")
    assert answer.status == 200
    periods: list[dict[str, Any]] = answer.body["billing_periods"]
    return periods


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def test_ready_turns_active_after_three_months(parent_api: EmulatorApi) -> None:
    sim = await _ready_sim(parent_api)

    await _advance(parent_api, 80 * DAY)
    still_ready = (await parent_api.get(f"/Sims/{sim['sid']}")).body["status"]
    await _advance(parent_api, 15 * DAY)
    after = (await parent_api.get(f"/Sims/{sim['sid']}")).body["status"]

    assert still_ready == "ready"
    assert after == "active"


async def test_ready_turns_active_after_250_kb(parent_api: EmulatorApi) -> None:
    sim = await _ready_sim(parent_api)

    below = await parent_api.control("POST", "/usage", {"sim": sim["sid"], "bytes": 200 * 1024})
    above = await parent_api.control("POST", "/usage", {"sim": sim["sid"], "bytes": 50 * 1024})
    records = await parent_api.get("/UsageRecords", Sim=sim["sid"])

    assert below.body["status"] == "ready"
    assert above.body["status"] == "active"
    (record,) = records.body["usage_records"]
    assert record["data_total"] == 250 * 1024
    assert record["sim_sid"] == sim["sid"]


async def test_ready_turns_active_after_five_sms_commands(parent_api: EmulatorApi) -> None:
    sim = await _ready_sim(parent_api)

    statuses = []
    for index in range(5):
        sent = await parent_api.post("/SmsCommands", Sim=sim["sid"], Payload=f"ping {index}")
        assert sent.status == 201
        statuses.append((await parent_api.get(f"/Sims/{sim['sid']}")).body["status"])
    listed = await parent_api.get("/SmsCommands", Sim=sim["sid"])

    assert statuses == ["ready"] * 4 + ["active"]
    assert len(listed.body["sms_commands"]) == 5


async def test_new_sims_cannot_use_data_or_receive_sms(parent_api: EmulatorApi) -> None:
    sim = await parent_api.first_sim()

    usage = await parent_api.control("POST", "/usage", {"sim": sim["sid"], "bytes": 10})
    sms = await parent_api.post("/SmsCommands", Sim=sim["sid"], Payload="hi")

    assert usage.status == 409
    assert (sms.status, sms.body["code"]) == (400, 20001)


async def test_billing_periods_start_roll_and_switch_type(parent_api: EmulatorApi) -> None:
    sim = await _ready_sim(parent_api)
    (ready_period,) = await _periods(parent_api, sim["sid"])

    await _advance(parent_api, 40 * DAY)
    rolled = await _periods(parent_api, sim["sid"])
    await parent_api.post(f"/Sims/{sim['sid']}", Status="active")
    switched = await _periods(parent_api, sim["sid"])

    assert ready_period["period_type"] == "ready"
    start = _epoch(ready_period["start_time"])
    assert _epoch(ready_period["end_time"]) == add_months(start, 1)
    assert [period["period_type"] for period in rolled] == ["ready", "ready"]
    assert rolled[1]["start_time"] == rolled[0]["end_time"]
    assert [period["period_type"] for period in switched] == ["ready", "ready", "active"]
    assert switched[1]["end_time"] == switched[2]["start_time"]


async def test_periods_after_a_clock_jump_follow_the_order_of_their_ends(
    parent_api: EmulatorApi,
) -> None:
    sim = await _ready_sim(parent_api)

    await _advance(parent_api, add_months(0, 4) + DAY)
    periods = await _periods(parent_api, sim["sid"])
    status = (await parent_api.get(f"/Sims/{sim['sid']}")).body["status"]

    assert status == "active"
    assert [period["period_type"] for period in periods] == [
        "ready",
        "ready",
        "ready",
        "active",
        "active",
    ], "the three-month deadline comes before the third period's end"
    assert all(a["end_time"] == b["start_time"] for a, b in itertools.pairwise(periods))
    assert len({period["sid"] for period in periods}) == 5


async def test_a_sim_deactivated_before_its_period_ends_gets_no_next_one(
    parent_api: EmulatorApi,
) -> None:
    sim = await _active_sim(parent_api)
    await parent_api.control("POST", "/faults", {"stuck_rate": 1.0})
    await parent_api.post(f"/Sims/{sim['sid']}", Status="inactive")
    await parent_api.control("POST", "/faults", {"stuck_rate": 0.0})

    await _advance(parent_api, 70 * DAY)
    periods = await _periods(parent_api, sim["sid"])
    status = (await parent_api.get(f"/Sims/{sim['sid']}")).body["status"]

    assert status == "inactive"
    assert [period["period_type"] for period in periods] == ["active"]


async def test_billing_period_stays_with_the_old_account_after_a_move(
    emulator_factory: EmulatorFactory, http: aiohttp.ClientSession
) -> None:
    parent, child = await _parent_and_child(emulator_factory, http)
    sim = await _active_sim(parent)
    await _move_inactive(parent, child, sim["sid"])

    seen_right_after = await _periods(child, sim["sid"])
    await child.post(f"/Sims/{sim['sid']}", Status="active", Fleet="default")
    await child.wait_for_status(sim["sid"], "active")
    reused = await _periods(child, sim["sid"])
    await _advance(parent, 32 * DAY)
    after_rollover = await _periods(child, sim["sid"])

    assert seen_right_after == []
    assert reused == []
    assert len(after_rollover) == 1
    assert after_rollover[0]["account_sid"] == child.account.account_sid
    assert after_rollover[0]["period_type"] == "active"


async def test_stuck_sims_complete_once_the_clock_passes_an_hour(parent_api: EmulatorApi) -> None:
    await parent_api.control("POST", "/faults", {"stuck_rate": 1.0})
    sim = await parent_api.first_sim()
    await parent_api.post(f"/Sims/{sim['sid']}", Status="active", Fleet="default")
    await parent_api.control("POST", "/faults", {"stuck_rate": 0.0})

    await _advance(parent_api, 1800)
    half_way = (await parent_api.get(f"/Sims/{sim['sid']}")).body["status"]
    await _advance(parent_api, 1801)
    done = (await parent_api.get(f"/Sims/{sim['sid']}")).body["status"]

    assert half_way == "scheduled"
    assert done == "active"


async def test_settings_update_recorded_on_first_enable(parent_api: EmulatorApi) -> None:
    sim = await _ready_sim(parent_api)

    updates = await parent_api.get("/SettingsUpdates", Sim=sim["sid"])
    none_yet = await parent_api.get("/SettingsUpdates", Status="failed")

    (update,) = updates.body["settings_updates"]
    assert update["status"] == "successful"
    assert update["sim_sid"] == sim["sid"]
    assert none_yet.body["settings_updates"] == []


async def test_clock_only_moves_forward(parent_api: EmulatorApi) -> None:
    before = (await parent_api.control("GET", "/clock")).body
    backwards = await parent_api.control("POST", "/clock", {"advance_seconds": -5})
    after = (await parent_api.control("POST", "/clock", {"advance_seconds": 60})).body

    assert backwards.status == 400
    assert after["offset_seconds"] == before["offset_seconds"] + 60


async def test_usage_records_stay_with_the_account_that_incurred_them(
    emulator_factory: EmulatorFactory, http: aiohttp.ClientSession
) -> None:
    parent, child = await _parent_and_child(emulator_factory, http)
    sim = await _active_sim(parent)
    await parent.control("POST", "/usage", {"sim": sim["sid"], "bytes": 1000})
    await _move_inactive(parent, child, sim["sid"])

    for_child = await child.get("/UsageRecords", Sim=sim["sid"])
    by_day = await parent.get("/UsageRecords", Granularity="day", Group="sim")

    assert [record["data_total"] for record in for_child.body["usage_records"]] == [0]
    (day,) = by_day.body["usage_records"]
    assert (day["sim_sid"], day["data_total"]) == (sim["sid"], 1000)
    assert day["period"]["end_time"] > day["period"]["start_time"]
