"""`--state FILE`: a restarted emulator keeps accounts, credentials, Sims and pending updates."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from simops.emulator.server import RunningEmulator
from tests.helpers.emulator_api import EmulatorApi
from tests.helpers.emulators import EmulatorFactory

StartOnStateFile = Callable[..., Awaitable[tuple[RunningEmulator, EmulatorApi]]]
"""`await on_state_file(**EmulatorOptions fields)`: an emulator on the test's state file."""


@pytest.fixture
def on_state_file(
    emulator_factory: EmulatorFactory, http: aiohttp.ClientSession, tmp_path: Path
) -> StartOnStateFile:
    """Start an emulator on the test's one state file (with any other `EmulatorOptions`
    fields), and its API as the parent: a call after the last one's `stop()` is a restart."""
    state = tmp_path / "emulator.db"

    async def start(**options: Any) -> tuple[RunningEmulator, EmulatorApi]:
        emulator = await emulator_factory(state_file=state, **options)
        return emulator, EmulatorApi(http, emulator, emulator.parent)

    return start


async def test_restart_keeps_sims_accounts_and_credentials(on_state_file: StartOnStateFile) -> None:
    first, api = await on_state_file()
    sims = (await api.get("/Sims", PageSize="3")).body["sims"]
    renamed, activated, moved = (sim["sid"] for sim in sims)
    await api.post(f"/Sims/{renamed}", UniqueName="kept")
    await api.post(f"/Sims/{activated}", Status="active", Fleet="iot-eu")
    await api.wait_for_status(activated, "active")
    await api.post(f"/Sims/{moved}", AccountSid=first.accounts[1].account_sid)
    await api.control("POST", "/clock", {"advance_seconds": 3600})
    await first.stop()

    second, api = await on_state_file(seed_sims=0)
    child = EmulatorApi(api.session, second, second.accounts[1])

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


async def test_pending_update_completes_after_a_restart(on_state_file: StartOnStateFile) -> None:
    first, api = await on_state_file(scheduled_delay=(0.5, 0.5))
    sim = await api.first_sim()
    accepted = await api.post(f"/Sims/{sim['sid']}", Status="ready", Fleet="default")
    await first.stop()

    _, api = await on_state_file(scheduled_delay=(0.5, 0.5))
    right_after = (await api.get(f"/Sims/{sim['sid']}")).body["status"]
    done = await api.wait_for_status(sim["sid"], "ready")

    assert accepted.status == 202
    assert right_after == "scheduled"
    assert done["fleet_sid"] == first.parent.fleets[0]


async def test_registration_and_new_fleets_survive(on_state_file: StartOnStateFile) -> None:
    first, api = await on_state_file()
    pair = (await api.control("GET", "/inventory")).body["inventory"][0]
    await api.post("/Sims", Iccid=pair["iccid"], RegistrationCode=pair["registration_code"])
    profile = (await api.get("/NetworkAccessProfiles")).body["network_access_profiles"][0]
    await api.post("/Fleets", NetworkAccessProfile=profile["sid"], UniqueName="later")
    await first.stop()

    _, api = await on_state_file()
    inventory = (await api.control("GET", "/inventory")).body

    assert len((await api.get("/Sims", Iccid=pair["iccid"])).body["sims"]) == 1
    assert pair["iccid"] not in [item["iccid"] for item in inventory["inventory"]]
    assert inventory["total"] == 4
    assert (await api.get("/Fleets/later")).status == 200


async def test_derived_sids_and_iccids_are_the_same_after_a_restart(
    on_state_file: StartOnStateFile,
) -> None:
    first, api = await on_state_file()
    sim = await api.first_sim()
    await api.post(f"/Sims/{sim['sid']}", Status="active", Fleet="default")
    await api.wait_for_status(sim["sid"], "active")
    periods = (await api.get(f"/Sims/{sim['sid']}/BillingPeriods")).body["billing_periods"]
    updates = (await api.get("/SettingsUpdates", Sim=sim["sid"])).body["settings_updates"]
    await first.stop()

    _, api = await on_state_file()

    after = await api.get(f"/Sims/{sim['sid']}/BillingPeriods")
    assert after.body["billing_periods"] == periods
    assert len(periods) == 1
    after = await api.get("/SettingsUpdates", Sim=sim["sid"])
    assert after.body["settings_updates"] == updates
    assert len(updates) == 1
    (found,) = (await api.get("/Sims", Iccid=sim["iccid"])).body["sims"]
    assert found["sid"] == sim["sid"]
