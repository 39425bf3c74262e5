"""Preparing campaigns against the emulator: every row checked, planned, resumable, read-only."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from simops.activities.campaign_prepare import CampaignPrepareActivities
from simops.campaigns import preparer
from simops.campaigns.preparer import CampaignPreparer, plan_summary, prepare_for_dry_run
from simops.campaigns.reports import render_plan
from simops.campaigns.rows import PrepareResult
from simops.campaigns.spec import CampaignAction, CampaignSource, CampaignSpec
from simops.campaigns.store.backends import StoreBackend
from simops.campaigns.store.campaign_store import CampaignStore
from simops.campaigns.store.errors import CampaignStoreError
from simops.campaigns.store.preparation import PrepareStage
from simops.core.sim import OutcomeKind, SimStatus, SimUpdate
from simops.devstack.in_process import emulator_settings
from simops.emulator.server import RunningEmulator
from simops.messages import PrepareRequest
from simops.runtime.settings import SimopsSettings
from simops.supersim.client import SuperSimClient
from simops.supersim.errors import SuperSimError
from simops.supersim.resources import Sim
from simops.worker import account_budget
from tests.helpers.emulators import EmulatorFactory

ICCID_RUN = re.compile(r"\d{18,22}")
SID = re.compile(r"\b[A-Z]{2}[0-9a-f]{32}\b")
"""A SID's 32 hex digits hold 18 decimal digits in a row about once in 2,000 SIDs (the emulator
redraws only 19-digit runs): a Fleet's SID that a planned change names is no ICCID, and is
taken out before looking for one."""


@dataclass
class World:
    """An emulator with SIMs in known states, a client of its parent account, a campaign dir."""

    emulator: RunningEmulator
    settings: SimopsSettings
    client: SuperSimClient
    sims: list[Sim]
    fleets: dict[str, str]
    child_fleets: dict[str, str]
    child_account: str
    directory: Path

    def campaign(
        self,
        campaign_id: str,
        action: CampaignAction,
        lines: list[str] | bytes,
        *,
        stores: StoreBackend | None = None,
        **spec: Any,
    ) -> CampaignStore:
        """A campaign of `lines` in `stores` (default: SQLite files in `directory`)."""
        return file_campaign(self.directory, campaign_id, action, lines, stores=stores, **spec)

    async def prepare(
        self, store: CampaignStore, *, lookups: bool = False, **options: Any
    ) -> PrepareResult:
        """Prepare a campaign; `lookups` makes it look each SIM up instead of listing them."""
        settings = self.settings
        if lookups:
            # One SIM a listing page, and lookups that look instant: the listing stops at once.
            settings = settings.model_copy(update={"api_max_rps": 1e9})
            options["page_size"] = 1
        return await CampaignPreparer(self.client, settings, store, **options).run()

    async def settle(self, sim: Sim, update: SimUpdate) -> Sim:
        """Apply an update and wait until the SIM is no longer scheduled."""
        await self.client.update_sim(sim.sid, update)
        for _ in range(1000):
            current = await self.client.fetch_sim(sim.sid)
            if current.status != SimStatus.SCHEDULED:
                return current
            await asyncio.sleep(0.01)
        raise AssertionError(f"{sim.sid} stayed scheduled")

    def activation(self, campaign_id: str, stores: StoreBackend | None = None) -> CampaignStore:
        """The campaign of `activation_lines`, with `default` as the campaign's Fleet."""
        return self.campaign(
            campaign_id,
            CampaignAction.ACTIVATE,
            activation_lines(self),
            stores=stores,
            fleet="default",
        )


def file_campaign(
    directory: Path,
    campaign_id: str,
    action: CampaignAction,
    lines: list[str] | bytes,
    *,
    stores: StoreBackend | None = None,
    **spec: Any,
) -> CampaignStore:
    """A campaign of `lines` (its file beside `directory`) in `stores` (default: SQLite files
    in `directory`)."""
    source = directory.parent / f"{campaign_id}.csv"
    source.write_bytes(lines if isinstance(lines, bytes) else ("\n".join(lines) + "\n").encode())
    campaign = CampaignSpec(
        campaign_id=campaign_id,
        action=action,
        source=CampaignSource(file_name=source.name),
        **spec,
    )
    return CampaignStore.create(stores or directory, campaign, source)


@pytest.fixture
async def world(emulator_factory: EmulatorFactory, tmp_path: Path) -> AsyncIterator[World]:
    emulator = await emulator_factory(seed_sims=24, scheduled_delay=(0.01, 0.01))
    settings = emulator_settings(emulator, campaign_dir=tmp_path / "campaigns", api_max_retries=0)
    child = emulator.accounts[1]
    async with SuperSimClient(settings) as client:
        fleets = {fleet.unique_name or "": fleet.sid for fleet in await client.list_fleets()}
        world = World(
            emulator=emulator,
            settings=settings,
            client=client,
            sims=[sim async for sim in client.list_sims()],
            fleets=fleets,
            child_fleets={},
            child_account=child.account_sid,
            directory=settings.campaign_dir,
        )
        sims = world.sims
        await world.settle(sims[0], SimUpdate(status=SimStatus.ACTIVE, fleet=fleets["default"]))
        await world.settle(sims[1], SimUpdate(status=SimStatus.ACTIVE, fleet=fleets["default"]))
        await world.settle(sims[1], SimUpdate(status=SimStatus.INACTIVE))
        await client.update_sim(sims[2].sid, SimUpdate(unique_name="dev-2"))
        await client.update_sim(sims[3].sid, SimUpdate(account_sid=child.account_sid))
        await client.update_sim(sims[4].sid, SimUpdate(account_sid=child.account_sid))
        await client.update_sim(sims[4].sid, SimUpdate(unique_name="twin"))
        await client.update_sim(sims[5].sid, SimUpdate(unique_name="twin"))
        world.child_fleets = {
            fleet.unique_name or "": fleet.sid
            for fleet in emulator.context.store.accounts[child.account_sid].fleets.values()
        }
        world.sims = [await client.fetch_sim(sim.sid) for sim in sims]
        yield world


def bad_luhn(iccid: str) -> str:
    return iccid[:-1] + str((int(iccid[-1]) + 1) % 10)


def activation_lines(world: World) -> list[str]:
    sims, child_fleet = world.sims, world.child_fleets["iot-eu"]
    return [
        "sim,fleet",
        f"{sims[0].sid},default",
        f"{sims[0].iccid},",
        "dev-2,iot-eu",
        f"{sims[1].iccid}",
        "nope",
        bad_luhn(sims[6].iccid or ""),
        f"{sims[3].sid},{child_fleet}",
        f"{sims[6].sid},{child_fleet}",
        f"{sims[4].sid},iot-eu",
        "twin",
        f"{sims[7].sid},HF{'0' * 32}",
        "",
        f"{sims[8].iccid},lab",
    ]


def verdicts(store: CampaignStore) -> list[tuple[int, str, int | None]]:
    return [(row.row_no, row.outcome, row.code) for row in store.report_rows()]


@pytest.mark.parametrize("lookups", [False, True], ids=["account-listing", "lookups"])
async def test_activation_rows_are_resolved_checked_and_planned(
    world: World, lookups: bool
) -> None:
    store = world.activation("activate")
    sims, fleets = world.sims, world.fleets

    result = await world.prepare(store, lookups=lookups)

    report = {row.row_no: row for row in store.report_rows()}
    invalid = OutcomeKind.INVALID
    assert verdicts(store) == [
        (1, "pending", None),
        (2, invalid, 20001),
        (3, "pending", None),
        (4, "pending", None),
        (5, invalid, 20404),
        (6, invalid, 20001),
        (7, "pending", None),
        (8, invalid, 83006),
        (9, invalid, 83006),
        (10, "pending", None),
        (11, invalid, 83006),
        (12, invalid, 83006),
    ]
    assert report[2].message == "duplicate of row 1 (the same SIM)"
    assert report[2].sim_sid == sims[0].sid
    assert report[3].sim_sid == sims[2].sid
    assert report[5].message == "no SIM with this unique name in the account"
    assert "belongs to account" in (report[9].message or "")
    assert report[10].sim_sid == sims[5].sid, "a name resolves as the API resolves it"
    assert report[12].line_no == 14 and "no Fleet 'lab'" in (report[12].message or "")
    assert result.model_dump() == {
        "rows": 12,
        "valid": 5,
        "invalid": 7,
        "already_converged": 1,
        "planned_changes": {
            f"new → active, fleet none → iot-eu ({fleets['iot-eu']})": 1,
            "inactive → active": 1,
            f"new → active, fleet none → {world.child_fleets['iot-eu']}": 1,
            f"new → active, fleet none → default ({fleets['default']})": 1,
        },
        "invalid_by_code": {"20001": 2, "20404": 1, "83006": 4},
    }
    planned = {row.row_no: row for row in store.planned_rows(1, 12)}
    assert planned[4].desired is not None and planned[4].desired.fleet_sid == fleets["default"]
    assert planned[4].before is not None and planned[4].before.status is SimStatus.INACTIVE
    assert planned[7].desired is not None
    assert planned[7].desired.fleet_sid == world.child_fleets["iot-eu"]


async def test_both_ways_of_finding_sims_agree(world: World) -> None:
    by_lookup = world.activation("one-by-one")
    by_listing = world.activation("listed")
    stats = world.emulator.context.stats
    stats.reset()

    first = await world.prepare(by_lookup, lookups=True)
    fetches_by_lookup = stats.requests["GET /v1/Sims/{sid}"].total()
    stats.reset()
    second = await world.prepare(by_listing)
    fetches_by_listing = stats.requests["GET /v1/Sims/{sid}"].total()

    assert first == second
    assert list(by_lookup.report_rows()) == list(by_listing.report_rows())
    assert fetches_by_lookup >= 8, "each SID and unique name fetched"
    assert fetches_by_listing == 1, "only the unique name two accounts use"


async def test_transitions_the_rules_forbid_are_invalid(world: World) -> None:
    sims = world.sims
    deactivate = world.campaign(
        "deactivate", CampaignAction.DEACTIVATE, [sims[0].sid, sims[9].sid, sims[1].sid]
    )
    reactivate = world.campaign("reactivate", CampaignAction.REACTIVATE, [sims[1].sid, sims[9].sid])
    ready = world.campaign("ready", CampaignAction.READY, [sims[9].sid, sims[0].sid])

    await world.prepare(deactivate)
    await world.prepare(reactivate)
    await world.prepare(ready)

    assert verdicts(deactivate) == [
        (1, "pending", None),
        (2, OutcomeKind.INVALID, 83010),
        (3, "pending", None),
    ]
    assert deactivate.preparation.result() is not None
    assert deactivate.preparation.result().already_converged == 1  # type: ignore[union-attr]
    assert verdicts(reactivate) == [(1, "pending", None), (2, OutcomeKind.INVALID, 83010)]
    assert "applies to SIMs that are inactive" in (list(reactivate.report_rows())[1].message or "")
    assert verdicts(ready) == [(1, OutcomeKind.INVALID, 83007), (2, OutcomeKind.INVALID, 83010)]


async def test_renames_check_names_held_and_claimed(world: World) -> None:
    sims = world.sims
    store = world.campaign(
        "rename",
        CampaignAction.RENAME,
        [
            "sid,unique_name",
            f"{sims[10].sid},dev-2",
            f"{sims[11].sid},fresh",
            f"{sims[12].sid},fresh",
            f"{sims[13].sid},",
            f"{sims[2].sid},dev-2",
            f"{sims[3].sid},dev-2",
        ],
    )

    await world.prepare(store)

    report = list(store.report_rows())
    assert verdicts(store) == [
        (1, OutcomeKind.INVALID, 83011),
        (2, "pending", None),
        (3, OutcomeKind.INVALID, 83011),
        (4, OutcomeKind.INVALID, 83001),
        (5, "pending", None),
        (6, "pending", None),
    ]
    assert sims[2].sid in (report[0].message or "")
    assert report[2].message == "row 2 renames another SIM of the account to this unique name"
    result = store.preparation.result()
    assert result is not None and result.already_converged == 1
    assert result.planned_changes == {"rename": 2}, "another account may use the same name"


async def test_claims_reach_across_validation_chunks(world: World, stores: StoreBackend) -> None:
    sims = world.sims
    lines = [
        "sid,unique_name",
        f"{sims[10].sid},dev-9",
        f"{sims[11].sid},other",
        f"{sims[10].sid},again",
        f"{sims[12].sid},dev-9",
        f"{sims[11].sid},third",
    ]
    whole = world.campaign("whole", CampaignAction.RENAME, lines)
    one_by_one = world.campaign("one-by-one", CampaignAction.RENAME, lines)

    in_one_transaction = world.campaign(
        "one-transaction", CampaignAction.RENAME, lines, stores=stores
    )

    await world.prepare(whole)
    await world.prepare(one_by_one, validate_chunk=1)
    await world.prepare(in_one_transaction, judge_chunk=1)

    assert (
        verdicts(one_by_one)
        == verdicts(in_one_transaction)
        == verdicts(whole)
        == [
            (1, "pending", None),
            (2, "pending", None),
            (3, OutcomeKind.INVALID, 20001),
            (4, OutcomeKind.INVALID, 83011),
            (5, OutcomeKind.INVALID, 20001),
        ]
    )
    assert list(one_by_one.report_rows()) == list(whole.report_rows())


async def test_set_fleet_needs_a_fleet(world: World) -> None:
    store = world.campaign("set-fleet", CampaignAction.SET_FLEET, [world.sims[0].sid])

    await world.prepare(store)

    (row,) = store.report_rows()
    assert (row.outcome, row.code) == (OutcomeKind.INVALID, 83001)


async def test_a_filter_source_lists_its_rows(world: World) -> None:
    campaign = CampaignSpec(
        campaign_id="all-new",
        action=CampaignAction.READY,
        source=CampaignSource(status=SimStatus.NEW),
        fleet="iot-eu",
    )
    store = CampaignStore.create(world.directory, campaign, None)
    new_sims = [sim.sid for sim in world.sims if sim.status is SimStatus.NEW]

    result = await world.prepare(store)

    report = list(store.report_rows())
    assert [row.sim_sid for row in report] == [row.reference for row in report]
    assert sorted(row.reference for row in report) == sorted(new_sims)
    assert result.rows == len(new_sims)
    child_sims = {world.sims[3].sid, world.sims[4].sid}
    assert {row.sim_sid for row in report if row.outcome == OutcomeKind.INVALID} == child_sims
    parent_fleet = world.fleets["iot-eu"]
    assert result.planned_changes == {
        f"new → ready, fleet none → iot-eu ({parent_fleet})": len(new_sims) - 2
    }


async def test_preparing_reads_only_and_twice_is_once(world: World) -> None:
    store = world.activation("dry")
    stats = world.emulator.context.stats
    stats.reset()

    first = await world.prepare(store)
    requests = stats.snapshot(per_sim=False)
    second = await world.prepare(store)

    assert requests["state_changing_writes"]["total"] == 0
    assert all(route.startswith("GET ") for route in requests["requests"])
    assert second == first
    assert stats.snapshot(per_sim=False)["requests_total"] == requests["requests_total"]


async def test_a_failed_snapshot_is_taken_again(world: World) -> None:
    reference = world.activation("reference")
    crashed = world.activation("crashed")
    expected = await world.prepare(reference)

    world.emulator.context.faults.update({"error_rate": 1.0})
    with pytest.raises(SuperSimError):
        await world.prepare(crashed)
    assert crashed.preparation.stage() is PrepareStage.IMPORTED
    world.emulator.context.faults.reset()

    assert await world.prepare(crashed) == expected
    assert list(crashed.report_rows()) == list(reference.report_rows())


async def test_a_listing_cut_short_leaves_no_snapshot_and_no_transaction(
    world: World, stores: StoreBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = world.activation("reference")
    crashed = world.activation("crashed", stores)
    expected = await world.prepare(reference)
    # Two SIMs a page and a write: the listing has written some when it is cut short.
    monkeypatch.setattr(preparer, "SNAPSHOT_BATCH", 2)

    def crash(stage: str, done: int) -> None:
        if stage == "snapshot" and done >= 10:
            raise RuntimeError("worker lost")

    with pytest.raises(RuntimeError):
        await world.prepare(crashed, on_progress=crash, page_size=2)

    assert crashed.preparation.stage() is PrepareStage.IMPORTED
    assert crashed.preparation.accounts() == [], "the SIMs written were rolled back"
    assert await world.prepare(crashed, page_size=2) == expected
    assert list(crashed.report_rows()) == list(reference.report_rows())


async def test_validation_resumes_after_the_rows_it_committed(world: World) -> None:
    reference = world.activation("reference")
    crashed = world.activation("crashed")
    expected = await world.prepare(reference)

    def crash(stage: str, done: int) -> None:
        if stage == "validate":
            raise RuntimeError("worker lost")

    with pytest.raises(RuntimeError):
        await world.prepare(crashed, on_progress=crash, validate_chunk=5)
    assert crashed.preparation.validated_through() == 5
    progress: list[tuple[str, int]] = []

    result = await world.prepare(
        crashed, on_progress=lambda *step: progress.append(step), validate_chunk=5
    )

    assert result == expected
    assert progress == [("validate", 10), ("validate", 12)]
    assert list(crashed.report_rows()) == list(reference.report_rows())


async def test_plan_summary_counts_rows_per_change_and_reason(world: World) -> None:
    store = world.activation("plan")
    with pytest.raises(CampaignStoreError, match="not prepared"):
        plan_summary(store)
    await world.prepare(store)

    plan = plan_summary(store)

    assert (plan.campaign_id, plan.action, plan.invalid) == ("plan", "activate", 7)
    assert sum(sample.count for sample in plan.changes) == plan.valid == 5
    assert sum(sample.count for sample in plan.invalid_reasons) == 7
    assert sorted(row for sample in plan.invalid_reasons for row in sample.first_rows) == [
        2,
        5,
        6,
        8,
        9,
        11,
        12,
    ]
    duplicate = next(s for s in plan.invalid_reasons if s.label.startswith("duplicate"))
    assert (duplicate.label, duplicate.code, duplicate.first_rows) == (
        "duplicate of row N (the same SIM)",
        20001,
        [2],
    )
    converged = next(s for s in plan.changes if s.label == "already converged")
    assert converged.count == plan.already_converged == 1


async def test_the_activity_never_shows_an_iccid(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.activation("activity")
    beats: list[Any] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)
    activities = CampaignPrepareActivities(
        world.client, world.settings, account_budget(world.settings)
    )

    with caplog.at_level(logging.DEBUG):
        result = await env.run(activities.prepare_campaign, PrepareRequest(campaign_id="activity"))

    assert result.rows == 12 and beats
    shown = [result.model_dump_json(), json.dumps(beats), caplog.text]
    assert not [run for text in shown for run in ICCID_RUN.findall(SID.sub("<SID>", text))]


async def test_the_activity_fails_for_good_on_bad_files_and_unknown_campaigns(
    world: World,
) -> None:
    world.campaign("binary", CampaignAction.ACTIVATE, b"\x00\x01\x02").close()
    activities = CampaignPrepareActivities(
        world.client, world.settings, account_budget(world.settings)
    )
    env = ActivityEnvironment()

    with pytest.raises(ApplicationError) as bad_file:
        await env.run(activities.prepare_campaign, PrepareRequest(campaign_id="binary"))
    with pytest.raises(ApplicationError) as unknown:
        await env.run(activities.prepare_campaign, PrepareRequest(campaign_id="nope"))

    assert (bad_file.value.type, bad_file.value.non_retryable) == ("FileSourceError", True)
    assert "NUL bytes" in str(bad_file.value)
    assert (unknown.value.type, unknown.value.non_retryable) == ("CampaignNotFound", True)


async def test_the_dry_run_plan(world: World) -> None:
    store = world.activation("dry-run")
    stats = world.emulator.context.stats
    stats.reset()

    plan = await prepare_for_dry_run(world.client, world.settings, store)

    assert (plan.rows, plan.valid, plan.invalid) == (12, 5, 7)
    assert stats.snapshot(per_sim=False)["state_changing_writes"]["total"] == 0
    assert "invalid (7 rows), by reason:" in render_plan(plan)


async def test_the_prepared_store_keeps_no_snapshot_of_the_account(world: World) -> None:
    store = world.activation("private")
    directory = world.directory / "private"
    database = directory / "campaign.sqlite"
    outsider = world.sims[20].iccid or ""

    await world.prepare(store, lookups=False)

    files = b"".join(path.read_bytes() for path in directory.glob("campaign.sqlite*"))
    assert outsider.encode() not in files, "an ICCID of a SIM outside the campaign"
    assert (world.sims[1].iccid or "").encode() in files, "the campaign's own references stay"
    assert database.stat().st_size < 200_000


async def test_the_snapshot_keeps_the_sims_rows_may_name(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    """An account of 2,000 SIMs, a file naming 30 of them: the listing keeps those (and the
    filter's false positives, about 1 % of the others), not the whole account."""
    emulator = await emulator_factory(seed_sims=2_000)
    settings = emulator_settings(emulator, campaign_dir=tmp_path / "campaigns")
    async with SuperSimClient(settings) as client:
        sims = [sim async for sim in client.list_sims()]
        named = sims[::10][:10] + sims[5::10][:10]
        await client.update_sim(sims[7].sid, SimUpdate(unique_name="site-7"))
        lines = ["sim", *(sim.iccid or "" for sim in named[:10]), *(s.sid for s in named[10:])]
        lines.append("site-7")
        store = file_campaign(
            settings.campaign_dir, "named", CampaignAction.ACTIVATE, lines, fleet="default"
        )
        snapshots: list[set[str]] = []

        def read_snapshot(stage: str, done: int) -> None:
            if stage == "validate" and not snapshots:
                database = settings.campaign_dir / "named" / "campaign.sqlite"
                with sqlite3.connect(database) as reader:
                    snapshots.append({sid for (sid,) in reader.execute("SELECT sid FROM sims")})

        # Lookups priced as very slow: the whole account is listed.
        listing = settings.model_copy(update={"api_max_rps": 0.001})
        result = await CampaignPreparer(client, listing, store, on_progress=read_snapshot).run()
    assert result.valid == 21
    kept = snapshots[0]
    expected = {sim.sid for sim in named} | {sims[7].sid}
    assert expected <= kept, f"named SIMs missing from the snapshot: {expected - kept}"
    others = len(kept - expected)
    assert others < 60, f"{others} of {len(sims) - len(expected)} SIMs no row names were kept"
