"""Preparing migrations against the emulator: the dry run checks accounts, the Fleet map and
every SIM's path, and writes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from simops.campaigns.migration_preparer import restore_row
from simops.campaigns.preparer import prepare_for_dry_run
from simops.campaigns.reports import render_plan
from simops.campaigns.rows import DryRunPlan, ReportRow
from simops.campaigns.rules import RestoreTarget
from simops.campaigns.sources import ReferenceKind
from simops.campaigns.spec import CampaignAction, CampaignSource, CampaignSpec, MigrationSpec
from simops.campaigns.store.campaign_store import CampaignStore
from simops.core.sim import SimStatus, SimUpdate
from simops.devstack.in_process import emulator_settings
from simops.emulator.server import RunningEmulator
from simops.runtime.settings import SimopsSettings
from simops.supersim.client import SuperSimClient
from simops.supersim.resources import Sim
from tests.helpers.emulators import EmulatorFactory
from tests.helpers.stacks import writes_total

NOT_A_CHILD = "AC" + "5" * 32


@dataclass
class World:
    """An emulator with SIMs in four states, a parent client, and the accounts' Fleets."""

    emulator: RunningEmulator
    settings: SimopsSettings
    client: SuperSimClient
    sims: dict[str, Sim]
    parent: str
    child: str
    parent_fleets: dict[str, str]
    child_fleets: dict[str, str]
    directory: Path

    async def dry_run(
        self, campaign_id: str, source: CampaignSource, migration: MigrationSpec, canary: int = 0
    ) -> tuple[DryRunPlan, dict[str, ReportRow]]:
        spec = CampaignSpec(
            campaign_id=campaign_id,
            action=CampaignAction.MOVE,
            source=source,
            migration=migration,
            canary=canary,
        )
        path = self.directory / f"{campaign_id}.csv"
        path.write_text("".join(f"{sim.sid}\n" for sim in self.sims.values()))
        scratch = self.directory / "scratch"
        store = CampaignStore.create(scratch, spec, path if source.file_name else None)
        try:
            plan = await prepare_for_dry_run(self.client, self.settings, store)
            rows = {row.sim_sid or row.reference: row for row in store.report_rows()}
        finally:
            store.close()
        return plan, rows

    def from_file(self) -> CampaignSource:
        return CampaignSource(file_name="sims.csv")


def fleets_of(emulator: RunningEmulator, account_sid: str) -> dict[str, str]:
    account = emulator.context.store.accounts[account_sid]
    return {fleet.unique_name or "": sid for sid, fleet in account.fleets.items()}


async def settle(client: SuperSimClient, sid: str, update: SimUpdate) -> Sim:
    await client.update_sim(sid, update)
    for _ in range(500):
        sim = await client.fetch_sim(sid)
        if sim.status != SimStatus.SCHEDULED:
            return sim
        await asyncio.sleep(0.01)
    raise AssertionError(f"{sid} stayed scheduled")


@pytest.fixture
async def world(emulator_factory: EmulatorFactory, tmp_path: Path) -> AsyncIterator[World]:
    emulator = await emulator_factory(seed_sims=8, scheduled_delay=(0.01, 0.01))
    settings = emulator_settings(emulator, campaign_dir=tmp_path / "campaigns")
    parent, child = emulator.parent.account_sid, emulator.accounts[1].account_sid
    parent_fleets = fleets_of(emulator, parent)
    async with SuperSimClient(settings) as client:
        listed = [sim async for sim in client.list_sims(status=SimStatus.NEW, limit=4)]
        default = parent_fleets["default"]
        eu = parent_fleets["iot-eu"]
        sims = {
            "active-default": await settle(
                client, listed[0].sid, SimUpdate(status=SimStatus.ACTIVE, fleet=default)
            ),
            "active-eu": await settle(
                client, listed[1].sid, SimUpdate(status=SimStatus.ACTIVE, fleet=eu)
            ),
            "new-eu": await settle(client, listed[2].sid, SimUpdate(fleet=eu)),
            "new": listed[3],
        }
        yield World(
            emulator=emulator,
            settings=settings,
            client=client,
            sims=sims,
            parent=parent,
            child=child,
            parent_fleets=parent_fleets,
            child_fleets=fleets_of(emulator, child),
            directory=tmp_path,
        )


async def test_the_dry_run_prints_each_path_and_writes_nothing(world: World) -> None:
    writes = await writes_total(world.emulator)
    migration = MigrationSpec(
        to_account=world.child,
        fleet_map={"default": "default", world.parent_fleets["iot-eu"]: "iot-eu"},
        deactivate_first=True,
        reactivate=True,
    )

    plan, rows = await world.dry_run("paths", world.from_file(), migration)

    child, child_default = world.child, world.child_fleets["default"]
    parent_default = world.parent_fleets["default"]
    assert plan.valid == 4 and plan.invalid == 0
    deactivate_path = (
        f"active: deactivate → move to {child} fleet default ({parent_default}) → "
        f"default ({child_default}) → reactivate"
    )
    assert plan.planned_changes[deactivate_path] == 1
    assert plan.planned_changes[f"new: move to {child}"] == 1
    assert sum(plan.planned_changes.values()) == 4
    assert any(f"destination {child}: a child account" in note for note in plan.notes)
    text = render_plan(plan)
    assert deactivate_path in text and "nothing was written" in text
    assert {row.outcome for row in rows.values()} == {"pending"}
    assert await writes_total(world.emulator) == writes


async def test_the_dry_run_shows_the_canary_of_every_path(world: World) -> None:
    # Rows: active (default), active (iot-eu), new (iot-eu), new: two paths, two SIMs each.
    migration = MigrationSpec(
        to_account=world.child,
        fleet_map={"default": "default", world.parent_fleets["iot-eu"]: "iot-eu"},
        deactivate_first=True,
        reactivate=True,
    )

    plan, _ = await world.dry_run("canary", world.from_file(), migration, canary=1)

    sims = world.sims
    assert plan.canary is not None
    assert [(sim.row_no, sim.sim_sid, sim.path) for sim in plan.canary.sims] == [
        (1, sims["active-default"].sid, "deactivate,move,reactivate"),
        (3, sims["new-eu"].sid, "move"),
    ]
    lines = render_plan(plan).splitlines()
    start = lines.index(
        "canary, 1 per path (its first rows): each goes its whole path, in the first batch "
        "and alone, before any other SIM is written"
    )
    assert lines[start + 1 : start + 5] == [
        "  deactivate → move → reactivate (1 SIM):",
        f"    row 1        {sims['active-default'].sid}",
        "  move (1 SIM):",
        f"    row 3        {sims['new-eu'].sid}",
    ]


async def test_fleet_map_errors_are_caught_in_the_dry_run(world: World) -> None:
    foreign = world.parent_fleets["default"]
    unknown = MigrationSpec(
        to_account=world.child,
        fleet_map={"default": "nope", "iot-eu": foreign},
        deactivate_first=True,
    )
    incomplete = MigrationSpec(
        to_account=world.child, fleet_map={"default": "default"}, deactivate_first=True
    )

    unknown_plan, unknown_rows = await world.dry_run("unknown", world.from_file(), unknown)
    partial_plan, partial_rows = await world.dry_run("partial", world.from_file(), incomplete)

    sims = world.sims
    missing = unknown_rows[sims["active-default"].sid]
    assert (missing.outcome, missing.code) == ("invalid", 83006)
    assert "--fleet-map default=nope" in (missing.message or "")
    assert "no Fleet 'nope'" in (missing.message or "")
    wrong_account = unknown_rows[sims["active-eu"].sid]
    assert wrong_account.code == 83006
    assert f"belongs to account {world.parent}" in (wrong_account.message or "")
    assert unknown_rows[sims["new"].sid].outcome == "pending", "no Fleet, nothing to map"
    assert unknown_plan.invalid == 3
    unmapped = partial_rows[sims["new-eu"].sid]
    assert unmapped.code == 83006 and "has no mapping" in (unmapped.message or "")
    assert "--fleet-map iot-eu=FLEET" in (unmapped.message or "")
    assert partial_plan.invalid_by_code == {"83006": 2}
    assert "--fleet-map iot-eu=FLEET" in render_plan(partial_plan)


async def test_statuses_that_need_a_flag_are_refused_with_the_flag_to_give(world: World) -> None:
    plan, rows = await world.dry_run(
        "no-flags",
        world.from_file(),
        MigrationSpec(to_account=world.child, no_fleet=True),
    )

    for name in ("active-default", "active-eu"):
        row = rows[world.sims[name].sid]
        assert row.code == 83010 and "--deactivate-first" in (row.message or "")
    assert rows[world.sims["new-eu"].sid].outcome == "pending"
    assert plan.planned_changes == {
        f"new: move to {world.child} fleet iot-eu ({world.parent_fleets['iot-eu']}) → none": 1,
        f"new: move to {world.child}": 1,
    }


async def test_a_destination_the_parent_does_not_own_makes_every_row_invalid(
    world: World,
) -> None:
    plan, rows = await world.dry_run(
        "stranger", world.from_file(), MigrationSpec(to_account=NOT_A_CHILD, no_fleet=True)
    )

    assert plan.invalid == 4 and plan.invalid_by_code == {"20001": 4}
    assert all("neither the parent account" in (row.message or "") for row in rows.values())
    assert any(NOT_A_CHILD in note for note in plan.notes)


async def test_a_reactivation_without_a_fleet_is_refused_before_any_write(world: World) -> None:
    plan, rows = await world.dry_run(
        "no-fleet-reactivate",
        world.from_file(),
        MigrationSpec(
            to_account=world.child, no_fleet=True, deactivate_first=True, reactivate=True
        ),
    )

    refused = rows[world.sims["active-default"].sid]
    assert refused.code == 83007
    assert plan.invalid_by_code == {"83007": 2}


async def test_from_account_lists_that_accounts_sims_and_resolves_its_fleet(
    world: World,
) -> None:
    child_default = world.child_fleets["default"]
    moved = world.sims["new"]
    await world.client.update_sim(
        moved.sid, SimUpdate(account_sid=world.child, fleet=child_default)
    )

    plan, rows = await world.dry_run(
        "back",
        CampaignSource(account_sid=world.child, fleet="default"),
        MigrationSpec(to_account=world.parent, fleet_map={"default": "default"}),
    )

    assert list(rows) == [moved.sid]
    assert plan.valid == 1
    assert any("the parent account" in note for note in plan.notes)


def report_row(outcome: str, **fields: Any) -> ReportRow:
    sid = "HS" + "7" * 32
    parent_default = "HF" + "8" * 32
    base: dict[str, Any] = {
        "row_no": 3,
        "reference": sid,
        "sim_sid": sid,
        "outcome": outcome,
        "before_status": SimStatus.ACTIVE,
        "before_fleet": parent_default,
        "before_account": "AC" + "1" * 32,
        "after_status": SimStatus.ACTIVE,
        "after_fleet": "HF" + "9" * 32,
        "after_account": "AC" + "2" * 32,
    }
    return ReportRow.model_validate({**base, **fields})


def test_a_rollback_restores_rows_the_migration_changed_and_notes_the_others() -> None:
    moved, target, note = restore_row(report_row("converged"), "m1")
    stopped_midway = restore_row(
        report_row(
            "failed",
            after_status=SimStatus.INACTIVE,
            after_fleet="HF" + "8" * 32,
            after_account="AC" + "1" * 32,
        ),
        "m1",
    )
    untouched = restore_row(report_row("cancelled", after_status=None), "m1")
    refused = restore_row(report_row("invalid", sim_sid=None, reference="nope"), "m1")
    pending = restore_row(report_row("pending"), "m1")

    assert moved.row_no == 3 and moved.kind is ReferenceKind.SID and note is None
    assert target == RestoreTarget("AC" + "1" * 32, SimStatus.ACTIVE, "HF" + "8" * 32)
    assert stopped_midway[1] is not None and stopped_midway[1].status is SimStatus.ACTIVE
    assert untouched[1] is None and "did not change" in (untouched[2] or "")
    assert refused[0].problem is not None and "named no SIM" in refused[0].problem
    assert pending[0].problem is not None and "still pending" in pending[0].problem
