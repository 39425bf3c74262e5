"""Fleets, NetworkAccessProfiles and Networks: create, read, update, and their checks."""

from __future__ import annotations

from tests.helpers.emulator_api import EmulatorApi


async def _profile_sid(api: EmulatorApi) -> str:
    profiles = (await api.get("/NetworkAccessProfiles")).body["network_access_profiles"]
    sid: str = profiles[0]["sid"]
    return sid


async def test_fleet_create_defaults_and_update(parent_api: EmulatorApi) -> None:
    profile = await _profile_sid(parent_api)

    created = await parent_api.post("/Fleets", NetworkAccessProfile="default", UniqueName="new-f")
    updated = await parent_api.post("/Fleets/new-f", DataLimit="1000", UniqueName="renamed-f")
    by_new_name = await parent_api.get("/Fleets/renamed-f")
    by_old_name = await parent_api.get("/Fleets/new-f")

    assert created.status == 201
    body = created.body
    assert (body["data_limit"], body["sms_commands_enabled"], body["data_enabled"]) == (
        250,
        False,
        True,
    )
    assert body["network_access_profile_sid"] == profile
    assert (updated.body["data_limit"], updated.body["unique_name"]) == (1000, "renamed-f")
    assert by_new_name.body["sid"] == body["sid"]
    assert by_old_name.status == 404


async def test_fleet_checks(parent_api: EmulatorApi, child_api: EmulatorApi) -> None:
    no_profile = await parent_api.post("/Fleets", UniqueName="x")
    unknown_profile = await parent_api.post("/Fleets", NetworkAccessProfile="nope")
    duplicate = await parent_api.post(
        "/Fleets", NetworkAccessProfile="default", UniqueName="default"
    )
    bad_limit = await parent_api.post("/Fleets/default", DataLimit="0", SmsCommandsUrl="x")
    after = await parent_api.get("/Fleets/default")
    others = await child_api.get(f"/Fleets/{parent_api.account.fleets[0]}")

    assert (no_profile.status, no_profile.body["code"]) == (400, 20001)
    assert "NetworkAccessProfile" in unknown_profile.body["message"]
    assert (duplicate.status, duplicate.body["code"]) == (400, 83011)
    assert (bad_limit.status, bad_limit.body["code"]) == (400, 20001)
    assert after.body["data_limit"] == 250
    assert others.status == 404


async def test_profiles_and_their_networks(parent_api: EmulatorApi) -> None:
    networks = (await parent_api.get("/Networks")).body["networks"]
    first, second = networks[0]["sid"], networks[1]["sid"]

    created = await parent_api.request(
        "POST",
        "/NetworkAccessProfiles",
        form=f"UniqueName=eu&Networks={first}&Networks={second}".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    members = await parent_api.get("/NetworkAccessProfiles/eu/Networks")
    removed = await parent_api.request("DELETE", f"/NetworkAccessProfiles/eu/Networks/{first}")
    gone = await parent_api.get(f"/NetworkAccessProfiles/eu/Networks/{first}")
    unknown = await parent_api.post("/NetworkAccessProfiles", Networks="HW" + "0" * 32)

    assert created.status == 201
    assert [item["sid"] for item in members.body["networks"]] == [first, second]
    assert removed.status == 204
    assert gone.status == 404
    assert (unknown.status, unknown.body["code"]) == (400, 20001)


async def test_networks_filter_by_country(parent_api: EmulatorApi) -> None:
    french = await parent_api.get("/Networks", IsoCountry="fr")
    nowhere = await parent_api.get("/Networks", Mcc="999")

    assert [item["iso_country"] for item in french.body["networks"]] == ["FR"]
    assert nowhere.body["networks"] == []


async def test_stats_reset_zeroes_the_counters(parent_api: EmulatorApi) -> None:
    sim = await parent_api.first_sim()
    await parent_api.post(f"/Sims/{sim['sid']}", UniqueName="counted")

    await parent_api.control("POST", "/stats/reset")
    stats = (await parent_api.control("GET", "/stats")).body

    assert stats["state_changing_writes"] == {"total": 0, "per_sim": {}}
    assert stats["requests"] == {"POST /_emulator/stats/reset": {"200": 1}}
