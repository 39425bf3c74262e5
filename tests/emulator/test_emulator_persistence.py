"""`--state FILE`: a restarted emulator keeps accounts, credentials, Sims and pending updates."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from tests.helpers.emulator_api import EmulatorApi
from tests.helpers.emulators import EmulatorFactory


async def test_restart_keeps_sims_accounts_and_credentials(
    emulator_factory: EmulatorFactory, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    state = tmp_path / "emulator.db"
    first = await emulator_factory(state_file=state)
    api = EmulatorApi(http, first, first.parent)
    sims = (await api.get("/Sims", PageSize="3")).body["sims"]
    renamed, activated, moved = (sim["sid"] for sim in sims)
    await api.post(f"/Sims/{renamed}", UniqueName="kept")
    await api.post(f"/Sims/{activated}", Status="active", Fleet="iot-eu")
    await api.wait_for_status(activated, "active")
    await api.post(f"/Sims/{moved}", AccountSid=first.accounts[1].account_sid)
    await api.control("POST", "/clock", {"advance_seconds": 3600})
    await first.stop()

    second = await emulator_factory(state_file=state, seed_sims=0)
    api = EmulatorApi(http, second, second.parent)
    child = EmulatorApi(http, second, second.accounts[1])

    assert [account.account_sid for account in second.accounts] == [
        account.account_sid for account in first.accounts
    ]
    assert second.parent.auth_token == first.parent.auth_token
    assert (await api.get("/Sims/kept")).body["sid"] == renamed
    restored = (await api.get(f"/Sims/{activated}")).body
    assert (restored["status"], restored["fleet_sid"]) == ("active", first.parent.fleets[1])
    assert (await child.get(f"/Sims/{moved}")).status == 200
    assert len((await api.get(f"/Sims/{activated}/BillingPeriods")).body["billing_periods"]) == 1
    assert (await api.control("GET", "/clock")).body["offset_seconds"] >= 3600
    everything = (await api.get("/Sims", PageSize="100")).body["sims"]
    assert len(everything) == 20


async def test_pending_update_completes_after_a_restart(
    emulator_factory: EmulatorFactory, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    state = tmp_path / "emulator.db"
    first = await emulator_factory(state_file=state, scheduled_delay=(0.5, 0.5))
    api = EmulatorApi(http, first, first.parent)
    sim = await api.first_sim()
    accepted = await api.post(f"/Sims/{sim['sid']}", Status="ready", Fleet="default")
    await first.stop()

    second = await emulator_factory(state_file=state, scheduled_delay=(0.5, 0.5))
    api = EmulatorApi(http, second, second.parent)
    right_after = (await api.get(f"/Sims/{sim['sid']}")).body["status"]
    done = await api.wait_for_status(sim["sid"], "ready")

    assert accepted.status == 202
    assert right_after == "scheduled"
    assert done["fleet_sid"] == first.parent.fleets[0]


async def test_registration_and_new_fleets_survive(
    emulator_factory: EmulatorFactory, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    state = tmp_path / "emulator.db"
    first = await emulator_factory(state_file=state)
    api = EmulatorApi(http, first, first.parent)
    pair = (await api.control("GET", "/inventory")).body["inventory"][0]
    await api.post("/Sims", Iccid=pair["iccid"], RegistrationCode=pair["registration_code"])
    profile = (await api.get("/NetworkAccessProfiles")).body["network_access_profiles"][0]
    await api.post("/Fleets", NetworkAccessProfile=profile["sid"], UniqueName="later")
    await first.stop()

    second = await emulator_factory(state_file=state)
    api = EmulatorApi(http, second, second.parent)
    inventory = (await api.control("GET", "/inventory")).body

    assert len((await api.get("/Sims", Iccid=pair["iccid"])).body["sims"]) == 1
    assert pair["iccid"] not in [item["iccid"] for item in inventory["inventory"]]
    assert inventory["total"] == 4
    assert (await api.get("/Fleets/later")).status == 200


async def test_derived_sids_and_iccids_are_the_same_after_a_restart(
    emulator_factory: EmulatorFactory, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    state = tmp_path / "emulator.db"
    first = await emulator_factory(state_file=state)
    api = EmulatorApi(http, first, first.parent)
    sim = await api.first_sim()
    await api.post(f"/Sims/{sim['sid']}", Status="active", Fleet="default")
    await api.wait_for_status(sim["sid"], "active")
    periods = (await api.get(f"/Sims/{sim['sid']}/BillingPeriods")).body["billing_periods"]
    updates = (await api.get("/SettingsUpdates", Sim=sim["sid"])).body["settings_updates"]
    await first.stop()

    second = await emulator_factory(state_file=state)
    api = EmulatorApi(http, second, second.parent)

    after = await api.get(f"/Sims/{sim['sid']}/BillingPeriods")
    assert after.body["billing_periods"] == periods
    assert len(periods) == 1
    after = await api.get("/SettingsUpdates", Sim=sim["sid"])
    assert after.body["settings_updates"] == updates
    assert len(updates) == 1
    (found,) = (await api.get("/Sims", Iccid=sim["iccid"])).body["sims"]
    assert found["sid"] == sim["sid"]
