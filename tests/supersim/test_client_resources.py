"""Every resource the client covers, parsed into the shared models, against the emulator."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from simops.core.sim import CallbackMethod, SimStatus, SimUpdate
from simops.emulator.server import RunningEmulator
from simops.supersim import errors
from simops.supersim.client import SuperSimClient
from simops.supersim.resources import BillingPeriodType, SettingsUpdateStatus, Sim

pytestmark = pytest.mark.timeout(60)


async def active_sim(client: SuperSimClient) -> Sim:
    """A SIM activated into the first Fleet, once the asynchronous update completed."""
    sid = (await client.list_sims_page(status=SimStatus.NEW, page_size=1)).sims[0].sid
    fleet = (await client.list_fleets())[0]
    result = await client.update_sim(sid, SimUpdate(status=SimStatus.ACTIVE, fleet=fleet.sid))
    assert result.accepted_async
    assert result.sim.status == SimStatus.SCHEDULED
    for _ in range(200):
        sim = await client.fetch_sim(sid)
        if sim.status == SimStatus.ACTIVE:
            return sim
        await asyncio.sleep(0.02)
    raise AssertionError("the activation never completed")


async def test_resolve_a_sim_by_sid_unique_name_or_iccid(client: SuperSimClient) -> None:
    sim = (await client.list_sims_page(page_size=1)).sims[0]
    renamed = await client.update_sim(sim.sid, SimUpdate(unique_name="tracker-1"))
    assert not renamed.accepted_async
    assert sim.iccid is not None
    for reference in (sim.sid, "tracker-1", sim.iccid, f" {sim.iccid} "):
        assert (await client.resolve_sim(reference)).sid == sim.sid
    unknown_iccid = "89883070999999999999"
    with pytest.raises(errors.NotFoundError) as caught:
        await client.resolve_sim(unknown_iccid)
    assert unknown_iccid not in str(caught.value)
    assert "898830…9999" in str(caught.value)
    with pytest.raises(errors.NotFoundError):
        await client.resolve_sim("no-such-name")


async def test_unique_names_are_escaped_in_the_path(client: SuperSimClient) -> None:
    sim = (await client.list_sims_page(page_size=1)).sims[0]
    await client.update_sim(sim.sid, SimUpdate(unique_name="site a/b?c"))
    assert (await client.fetch_sim("site a/b?c")).sid == sim.sid


async def test_fleets(client: SuperSimClient, emulator: RunningEmulator) -> None:
    fleets = await client.list_fleets()
    assert [fleet.sid for fleet in fleets] == emulator.parent.fleets
    default = await client.fetch_fleet("default")
    assert default.sid == fleets[0].sid
    profile = default.network_access_profile_sid
    assert profile is not None
    created = await client.create_fleet(
        network_access_profile=profile,
        unique_name="bench",
        data_limit=500,
        sms_commands_enabled=True,
        sms_commands_url="https://example.test/sms",
        sms_commands_method=CallbackMethod.GET,
    )
    assert (created.unique_name, created.data_limit, created.sms_commands_enabled) == (
        "bench",
        500,
        True,
    )
    assert created.sms_commands_method == "GET"
    updated = await client.update_fleet("bench", unique_name="bench-2", data_limit=750)
    assert (updated.sid, updated.unique_name, updated.data_limit) == (created.sid, "bench-2", 750)
    assert len(await client.list_fleets(network_access_profile=profile)) == len(fleets) + 1


async def test_network_access_profiles(client: SuperSimClient, emulator: RunningEmulator) -> None:
    profiles = await client.list_network_access_profiles()
    assert [profile.unique_name for profile in profiles] == ["default"]
    networks = list(emulator.context.store.networks)[:2]
    created = await client.create_network_access_profile(unique_name="eu-only", networks=networks)
    assert created.sid.startswith("HA")
    assert (await client.fetch_network_access_profile("eu-only")).sid == created.sid
    assert len(await client.list_network_access_profiles()) == 2


async def test_records_of_an_active_sim(client: SuperSimClient, emulator: RunningEmulator) -> None:
    sim = await active_sim(client)
    periods = await client.list_billing_periods(sim.sid)
    assert [period.period_type for period in periods] == [BillingPeriodType.ACTIVE]
    updates = await client.list_settings_updates(sim=sim.sid)
    assert updates and {update.sim_sid for update in updates} == {sim.sid}
    assert all(update.status in SettingsUpdateStatus for update in updates)
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{emulator.root_url}/_emulator/usage", json={"sim": sim.sid, "bytes": 4096}
        ) as response,
    ):
        assert response.status == 200
    now = datetime.now(UTC)
    records = await client.list_usage_records(
        sim=sim.sid, start_time=now - timedelta(days=1), end_time=now + timedelta(days=1)
    )
    assert sum(record.data_total or 0 for record in records) == 4096
    command = await client.create_sms_command(sim.sid, "ping")
    assert (command.sim_sid, command.payload) == (sim.sid, "ping")
    listed = await client.list_sms_commands(sim=sim.sid)
    assert [item.sid for item in listed] == [command.sid]
