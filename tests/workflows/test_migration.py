"""Account migrations end to end on a Temporal dev server and the emulator.

Every status path, a failure in the middle of a path, rollbacks after partial migrations, and a
worker restart between a SIM's deactivation and its move; the emulator's write counters check
that each SIM got exactly the writes its path needs.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from simops.campaigns.rows import CampaignPhase, ReportRow
from simops.campaigns.spec import (
    CampaignAction,
    CampaignSource,
    CampaignSpec,
    MigrationSpec,
    Ramp,
)
from simops.campaigns.store.campaign_store import CampaignStore
from simops.cli.migrate import DEFAULT_MULTI_WRITE_CANARY
from simops.clients.campaigns import campaign_progress, start_campaign
from simops.contract import campaign_workflow_id
from simops.core.sim import SimStatus, SimUpdate
from simops.devstack.in_process import LocalStack
from simops.emulator.server import RunningEmulator
from simops.messages import CampaignResult
from simops.supersim.resources import Sim
from simops.workflows.campaign import CampaignWorkflow
from tests.helpers.emulators import EmulatorFactory
from tests.helpers.stacks import campaign_test_stack, emulator_writes, writes_per_sim


def fleets_of(emulator: RunningEmulator, account_sid: str) -> dict[str, str]:
    """The account's Fleets: unique name → SID."""
    account = emulator.context.store.accounts[account_sid]
    return {fleet.unique_name or "": sid for sid, fleet in account.fleets.items()}


async def settle(stack: LocalStack, sid: str, *updates: SimUpdate) -> None:
    """Apply updates one after the other, each time waiting until the SIM is not scheduled."""
    for update in updates:
        await stack.api.update_sim(sid, update)
        for _ in range(500):
            if (await stack.api.fetch_sim(sid)).status != SimStatus.SCHEDULED:
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError(f"{sid} stayed scheduled")


class Migrations:
    """Starts migrations and rollbacks on one stack and reads their reports."""

    def __init__(self, stack: LocalStack, directory: Path) -> None:
        self.stack = stack
        self.directory = directory
        self.parent = stack.emulator.parent.account_sid
        self.child = stack.emulator.accounts[1].account_sid
        self.parent_fleets = fleets_of(stack.emulator, self.parent)
        self.child_fleets = fleets_of(stack.emulator, self.child)

    async def new_sims(self, count: int) -> list[Sim]:
        sims = [sim async for sim in self.stack.api.list_sims(status=SimStatus.NEW, limit=count)]
        assert len(sims) == count, "the emulator has too few new SIMs"
        return sims

    async def prepare(self, sims: Sequence[Sim], *updates: SimUpdate) -> None:
        """Take every SIM through `updates` (concurrently)."""
        await asyncio.gather(*(settle(self.stack, sim.sid, *updates) for sim in sims))

    def migration(self, **fields: Any) -> MigrationSpec:
        fields.setdefault("fleet_map", {"default": "default"})
        return MigrationSpec(to_account=self.child, **fields)

    async def run(
        self, campaign_id: str, sims: Sequence[Sim], migration: MigrationSpec, **spec: Any
    ) -> CampaignResult:
        source = self.directory / f"{campaign_id}.csv"
        source.write_text("".join(f"{sim.sid}\n" for sim in sims))
        campaign = CampaignSpec(
            campaign_id=campaign_id,
            action=CampaignAction.MOVE,
            source=CampaignSource(file_name=source.name),
            migration=migration,
            batch_size=spec.pop("batch_size", 10),
            **spec,
        )
        handle = await start_campaign(self.stack.client, self.stack.settings, campaign, source)
        return await handle.result()

    async def rollback(self, campaign_id: str, migration_id: str) -> CampaignResult:
        campaign = CampaignSpec(
            campaign_id=campaign_id,
            action=CampaignAction.ROLLBACK,
            source=CampaignSource(rollback_of=migration_id),
            batch_size=10,
        )
        handle = await start_campaign(self.stack.client, self.stack.settings, campaign, None)
        return await handle.result()

    def report(self, campaign_id: str) -> dict[str, ReportRow]:
        """The report's rows by SIM SID."""
        with CampaignStore.open(self.stack.settings.campaign_dir, campaign_id) as store:
            return {row.sim_sid or row.reference: row for row in store.report_rows()}

    async def state(self, sim: Sim) -> tuple[str, SimStatus, str | None]:
        current = await self.stack.api.fetch_sim(sim.sid)
        return current.account_sid, current.status, current.fleet_sid


@pytest.fixture
async def migrations(
    dev_env: WorkflowEnvironment, emulator_factory: EmulatorFactory, tmp_path: Path
) -> AsyncIterator[Migrations]:
    emulator = await emulator_factory(
        seed_sims=30, inactive_move_beta=True, scheduled_delay=(0.05, 0.1)
    )
    async with campaign_test_stack(dev_env, emulator, tmp_path) as stack:
        yield Migrations(stack, tmp_path)


async def test_each_status_takes_its_path(migrations: Migrations) -> None:
    m = migrations
    fresh, with_fleet, inactive, active, ready, active_only = await m.new_sims(6)
    default = m.parent_fleets["default"]
    await m.prepare([with_fleet], SimUpdate(fleet=default))
    await m.prepare(
        [inactive],
        SimUpdate(status=SimStatus.ACTIVE, fleet=default),
        SimUpdate(status=SimStatus.INACTIVE),
    )
    await m.prepare([active, active_only], SimUpdate(status=SimStatus.ACTIVE, fleet=default))
    await m.prepare([ready], SimUpdate(status=SimStatus.READY, fleet=default))

    plain = await m.run("paths-plain", [fresh, with_fleet, inactive, active, ready], m.migration())
    full = await m.run(
        "paths-full",
        [inactive, active, ready],
        m.migration(
            fleet_map={default: "iot-eu"},
            allow_inactive_move=True,
            deactivate_first=True,
            reactivate=True,
        ),
    )
    kept_inactive = await m.run(
        "paths-no-reactivate", [active_only], m.migration(deactivate_first=True)
    )
    first, second = m.report("paths-plain"), m.report("paths-full")
    writes = await writes_per_sim(m.stack.emulator)
    child_eu, child_default = m.child_fleets["iot-eu"], m.child_fleets["default"]

    assert plain.phase == full.phase == kept_inactive.phase == CampaignPhase.COMPLETED
    assert Counter(row.outcome for row in first.values()) == {"converged": 2, "invalid": 3}
    assert await m.state(fresh) == (m.child, SimStatus.NEW, None)
    assert await m.state(with_fleet) == (m.child, SimStatus.NEW, child_default)
    assert first[inactive.sid].code == 83010
    assert "--allow-inactive-move" in (first[inactive.sid].message or "")
    for refused in (active, ready):
        assert first[refused.sid].code == 83010
        assert "--deactivate-first" in (first[refused.sid].message or "")
    assert {row.outcome for row in second.values()} == {"converged"}
    assert await m.state(inactive) == (m.child, SimStatus.INACTIVE, child_eu)
    assert await m.state(active) == (m.child, SimStatus.ACTIVE, child_eu)
    assert await m.state(ready) == (m.child, SimStatus.ACTIVE, child_eu)
    assert await m.state(active_only) == (m.child, SimStatus.INACTIVE, child_default)
    assert second[active.sid].after_account == m.child
    assert second[active.sid].before_account == m.parent
    assert "was ready" in (second[ready.sid].warning or "")
    for moved_enabled in (active, ready):
        row = second[moved_enabled.sid]
        assert row.billing_period_start is not None and row.billing_period_end is not None
        assert "billing period open" in (row.warning or "")
    assert second[inactive.sid].billing_period_start is None
    # Setup writes (Fleet, activation, deactivation) come first; the migration's follow.
    assert writes[fresh.sid] == 1
    assert writes[with_fleet.sid] == 1 + 1
    assert writes[inactive.sid] == 2 + 1
    assert writes[active.sid] == 1 + 3
    assert writes[ready.sid] == 1 + 3
    assert writes[active_only.sid] == 1 + 2


async def test_a_migration_without_the_beta_stops_at_once_and_leaves_no_sim_out_of_service(
    dev_env: WorkflowEnvironment, emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    # Without the private beta a deactivated SIM cannot move: the move fails after the
    # deactivation, which no dry run can foresee (no API tells whether the beta is on). The
    # first refusal is about the account, so no other SIM gets a first write, and the SIMs
    # already deactivated are reactivated where they are.
    emulator = await emulator_factory(seed_sims=20, scheduled_delay=(0.05, 0.1))
    async with campaign_test_stack(dev_env, emulator, tmp_path) as stack:
        m = Migrations(stack, tmp_path)
        active = await m.new_sims(12)
        default = m.parent_fleets["default"]
        await m.prepare(active, SimUpdate(status=SimStatus.ACTIVE, fleet=default))
        before_writes = await writes_per_sim(emulator)

        result = await m.run(
            "migrate-no-beta",
            active,
            m.migration(deactivate_first=True, reactivate=True),
            batch_size=2,
            concurrency=5,
        )
        report = m.report("migrate-no-beta")
        restored = await m.rollback("migrate-no-beta-rollback", "migrate-no-beta")
        undo = m.report("migrate-no-beta-rollback")
        writes = await writes_per_sim(emulator)

    failed = [row for row in report.values() if row.outcome == "failed"]
    untouched = [row for row in report.values() if row.outcome == "cancelled"]
    assert result.phase == CampaignPhase.STOPPED
    assert result.stop_reason is not None and "83010" in result.stop_reason
    assert failed and untouched and len(failed) + len(untouched) == 12
    # One batch of 2 was in flight when the first move was refused: no SIM after it.
    assert len(failed) <= 2
    for row in failed:
        assert row.code == 83010 and "private beta" in (row.message or "")
        assert row.restored is True and "restored" in (row.message or "")
        assert (row.after_status, row.after_account, row.after_fleet) == (
            SimStatus.ACTIVE,
            m.parent,
            default,
        )
        assert row.writes == 2
        assert row.out_of_service_seconds is not None and row.out_of_service_seconds > 0
        assert row.billing_period_start is not None
    for row in untouched:
        assert row.writes == 0 and row.restored is None and row.out_of_service_seconds is None
        assert "not started" in (row.message or "")
    assert restored.phase == CampaignPhase.COMPLETED
    # The rollback looks at every SIM the migration wrote: they are where they were already.
    assert {undo[row.sim_sid or ""].outcome for row in failed} == {"already_converged"}
    assert {undo[row.sim_sid or ""].outcome for row in untouched} == {"already_converged"}
    for sim in active:
        assert await m.state(sim) == (m.parent, SimStatus.ACTIVE, default)
        extra = writes.get(sim.sid, 0) - before_writes.get(sim.sid, 0)
        assert extra == report[sim.sid].writes == (2 if report[sim.sid].outcome == "failed" else 0)


async def test_the_canary_takes_every_path_and_no_other_sim_of_a_failing_path_is_touched(
    dev_env: WorkflowEnvironment, emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    # Issue 24: a file whose first 15 rows are `new` SIMs and the rest alternate `active` and
    # `new`, into an account without the inactive-move beta. A canary of the first 10 rows (all
    # `new`, one move each) passed, then every `active` SIM was deactivated before the first
    # move of a deactivated SIM was refused. The canary must take SIMs of both paths.
    emulator = await emulator_factory(seed_sims=100, scheduled_delay=(0.05, 0.1))
    async with campaign_test_stack(dev_env, emulator, tmp_path) as stack:
        m = Migrations(stack, tmp_path)
        sims = await m.new_sims(95)
        active = sims[15::2]
        default = m.parent_fleets["default"]
        await m.prepare(active, SimUpdate(status=SimStatus.ACTIVE, fleet=default))
        before_writes = await writes_per_sim(emulator)

        result = await m.run(
            "migrate-mixed",
            sims,
            m.migration(deactivate_first=True, reactivate=True),
            batch_size=1000,
            concurrency=4,
            canary=DEFAULT_MULTI_WRITE_CANARY,
        )
        writes = await writes_per_sim(emulator)
        report = m.report("migrate-mixed")
        handle = stack.client.get_workflow_handle_for(
            CampaignWorkflow.run, campaign_workflow_id("migrate-mixed")
        )
        status = await campaign_progress(stack.settings, handle, WorkflowExecutionStatus.COMPLETED)
        states = [await m.state(sim) for sim in active]

    def extra(sim: Sim) -> int:
        return writes.get(sim.sid, 0) - before_writes.get(sim.sid, 0)

    # The emulator's counts, not our report: no `active` SIM but the canary's first 10 (rows
    # 16, 18, …, 34) got any write, and no SIM got a write the report does not tell.
    canary_active = active[:DEFAULT_MULTI_WRITE_CANARY]
    assert [sim.sid for sim in active if extra(sim)] == [
        sim.sid for sim in canary_active if extra(sim)
    ]
    assert any(extra(sim) for sim in canary_active)
    assert {sim.sid: extra(sim) for sim in sims} == {
        sim.sid: report[sim.sid].writes for sim in sims
    }
    # Nor any `new` SIM outside the canary's first 10 rows: the canary ran alone.
    assert not [
        sim.sid for sim in sims[DEFAULT_MULTI_WRITE_CANARY:] if sim not in active and extra(sim)
    ]
    assert result.phase == CampaignPhase.STOPPED
    reason = result.stop_reason or ""
    assert reason.startswith("canary: the SIM of row "), reason
    assert "(path deactivate → move → reactivate)" in reason and "83010" in reason
    # Every SIM the canary deactivated was restored where it was.
    assert states == [(m.parent, SimStatus.ACTIVE, default)] * len(active)
    canary = status.canary
    assert canary is not None and canary.per_path == DEFAULT_MULTI_WRITE_CANARY
    assert [(sim.row_no, sim.path) for sim in canary.sims] == sorted(
        [(row_no, "move") for row_no in range(1, 11)]
        + [(row_no, "deactivate,move,reactivate") for row_no in range(16, 35, 2)]
    )
    assert "failed" in {sim.state for sim in canary.sims if sim.path != "move"}
    assert '"canary":{"per_path":10' in status.model_dump_json()


async def test_the_canary_of_every_path_ends_before_the_other_sims_start_and_none_is_redone(
    migrations: Migrations,
) -> None:
    m = migrations
    sims = await m.new_sims(12)
    active = sims[4::2]
    await m.prepare(active, SimUpdate(status=SimStatus.ACTIVE, fleet=m.parent_fleets["default"]))
    before_writes = await writes_per_sim(m.stack.emulator)

    result = await m.run(
        "migrate-canary",
        sims,
        m.migration(deactivate_first=True, reactivate=True),
        batch_size=4,
        concurrency=4,
        canary=2,
    )
    writes = await writes_per_sim(m.stack.emulator)
    report = m.report("migrate-canary")

    assert result.phase == CampaignPhase.COMPLETED and result.counts["converged"] == 12
    # Each SIM got its path's writes once: the batches after the canary skipped its rows.
    for sim in sims:
        needed = 3 if sim in active else 1
        assert writes.get(sim.sid, 0) - before_writes.get(sim.sid, 0) == needed
        assert report[sim.sid].writes == needed
    rows = sorted(report.values(), key=lambda row: row.row_no)
    canary = [row for row in rows if row.row_no in (1, 2, 5, 7)]
    others = [row for row in rows if row not in canary]
    canary_ended = max(row.finished_at for row in canary if row.finished_at is not None)
    assert all(row.started_at is not None and row.started_at >= canary_ended for row in others)


async def test_no_compensate_leaves_deactivated_sims_inactive_and_says_so(
    dev_env: WorkflowEnvironment, emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    emulator = await emulator_factory(seed_sims=10, scheduled_delay=(0.05, 0.1))
    async with campaign_test_stack(dev_env, emulator, tmp_path) as stack:
        m = Migrations(stack, tmp_path)
        active = await m.new_sims(2)
        default = m.parent_fleets["default"]
        await m.prepare(active, SimUpdate(status=SimStatus.ACTIVE, fleet=default))
        result = await m.run(
            "migrate-no-compensate",
            active,
            m.migration(deactivate_first=True, reactivate=True),
            batch_size=2,
            concurrency=5,
            compensate=False,
        )
        report = m.report("migrate-no-compensate")
        restored = await m.rollback("migrate-no-compensate-rollback", "migrate-no-compensate")
        undo = m.report("migrate-no-compensate-rollback")
        states = [await m.state(sim) for sim in active]

    assert result.phase == CampaignPhase.STOPPED
    for row in report.values():
        assert row.outcome == "failed" and row.restored is False
        assert "--no-compensate" in (row.message or "")
        assert row.after_status == SimStatus.INACTIVE and row.writes == 1
    # The rollback then puts back what the migration changed.
    assert restored.phase == CampaignPhase.COMPLETED
    assert {row.outcome for row in undo.values()} == {"converged"}
    assert states == [(m.parent, SimStatus.ACTIVE, default)] * 2


async def test_a_rollback_after_a_cancelled_migration_moves_back_what_moved(
    dev_env: WorkflowEnvironment, emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    emulator = await emulator_factory(
        seed_sims=30, inactive_move_beta=True, scheduled_delay=(0.3, 0.3)
    )
    async with campaign_test_stack(dev_env, emulator, tmp_path) as stack:
        m = Migrations(stack, tmp_path)
        sims = await m.new_sims(24)
        default, eu = m.parent_fleets["default"], m.parent_fleets["iot-eu"]
        active, fresh = sims[:12], sims[12:]
        await m.prepare(active, SimUpdate(status=SimStatus.ACTIVE, fleet=default))
        await m.prepare(fresh[::2], SimUpdate(fleet=eu))
        original = {sim.sid: await m.state(sim) for sim in sims}
        before_writes = await writes_per_sim(emulator)
        source = tmp_path / "wrong-customer.csv"
        source.write_text("".join(f"{sim.sid}\n" for sim in sims))
        migration = m.migration(
            fleet_map={"default": "default", "iot-eu": "iot-eu"},
            deactivate_first=True,
            reactivate=True,
        )
        campaign = CampaignSpec(
            campaign_id="wrong-customer",
            action=CampaignAction.MOVE,
            source=CampaignSource(file_name=source.name),
            migration=migration,
            batch_size=4,
            concurrency=5,
        )
        handle = await start_campaign(stack.client, stack.settings, campaign, source)
        for _ in range(200):
            if (await handle.query(CampaignWorkflow.progress)).ended_rows >= 4:
                break
            await asyncio.sleep(0.05)
        await handle.signal(CampaignWorkflow.cancel, "wrong customer")
        cancelled = await handle.result()
        report = m.report("wrong-customer")
        restored = await m.rollback("wrong-customer-rollback", "wrong-customer")
        undo = m.report("wrong-customer-rollback")
        writes = await writes_per_sim(emulator)

    outcomes = Counter(str(row.outcome) for row in report.values())
    assert cancelled.phase == CampaignPhase.CANCELLED
    assert outcomes["converged"] >= 4 and outcomes["cancelled"] > 0
    assert set(outcomes) == {"converged", "cancelled"}
    assert restored.phase == CampaignPhase.COMPLETED
    assert len(undo) == len(sims)
    for sim in sims:
        moved = report[sim.sid].outcome == "converged"
        assert undo[sim.sid].outcome == ("converged" if moved else "already_converged")
        assert await m.state(sim) == original[sim.sid]
        was_active = original[sim.sid][1] == SimStatus.ACTIVE
        needed = (3 + 3 if was_active else 1 + 1) if moved else 0
        assert writes.get(sim.sid, 0) - before_writes.get(sim.sid, 0) == needed, sim.sid


async def test_a_worker_restart_between_deactivation_and_move_loses_nothing(
    dev_env: WorkflowEnvironment, emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    emulator = await emulator_factory(
        seed_sims=20, inactive_move_beta=True, scheduled_delay=(1.0, 1.5)
    )
    task_queue = "migration-restart"
    async with campaign_test_stack(dev_env, emulator, tmp_path, task_queue=task_queue) as first:
        m = Migrations(first, tmp_path)
        sims = await m.new_sims(20)
        default = m.parent_fleets["default"]
        await m.prepare(sims, SimUpdate(status=SimStatus.ACTIVE, fleet=default))
        before_writes = await writes_per_sim(emulator)
        source = tmp_path / "migrate-restart.csv"
        source.write_text("".join(f"{sim.sid}\n" for sim in sims))
        campaign = CampaignSpec(
            campaign_id="migrate-restart",
            action=CampaignAction.MOVE,
            source=CampaignSource(file_name=source.name),
            migration=m.migration(deactivate_first=True, reactivate=True),
            batch_size=10,
            # The callbacks of the deactivations go to the first stack's ingress, which stops
            # with it: the batches then poll.
            callback_wait_seconds=2.0,
        )
        handle = await start_campaign(first.client, first.settings, campaign, source)
        deactivations = 0
        for _ in range(200):
            writes = await writes_per_sim(emulator)
            deactivations = sum(writes[sim.sid] - before_writes[sim.sid] for sim in sims)
            if deactivations >= len(sims):
                break
            await asyncio.sleep(0.05)
        moving = [(await first.api.fetch_sim(sim.sid)).status for sim in sims]
    # The first worker is gone while every SIM is scheduled to deactivate; a second one takes
    # over from the history: it must move each SIM once, reactivate it once, nothing more.
    async with campaign_test_stack(dev_env, emulator, tmp_path, task_queue=task_queue) as second:
        result = await handle.result()
        m = Migrations(second, tmp_path)
        report = m.report("migrate-restart")
        states = [await m.state(sim) for sim in sims]
    writes = await writes_per_sim(emulator)

    assert deactivations == len(sims)
    assert set(moving) == {SimStatus.SCHEDULED}
    assert result.phase == CampaignPhase.COMPLETED
    assert {row.outcome for row in report.values()} == {"converged"}
    assert set(states) == {(m.child, SimStatus.ACTIVE, m.child_fleets["default"])}
    assert {writes[sim.sid] - before_writes[sim.sid] for sim in sims} == {3}
    assert all(row.billing_period_start is not None for row in report.values())


async def test_a_ramp_starts_each_wave_once_the_last_one_converged(
    migrations: Migrations,
) -> None:
    m = migrations
    active = await m.new_sims(14)
    default = m.parent_fleets["default"]
    await m.prepare(active, SimUpdate(status=SimStatus.ACTIVE, fleet=default))
    before = len(await emulator_writes(m.stack.emulator))

    result = await m.run(
        "ramped",
        active,
        m.migration(deactivate_first=True, reactivate=True),
        concurrency=8,
        ramp=Ramp(base=2, factor=2),
    )
    writes = (await emulator_writes(m.stack.emulator))[before:]

    assert result.phase == CampaignPhase.COMPLETED
    assert result.counts.get("converged") == 14
    rows = {sim.sid: row_no for row_no, sim in enumerate(active, start=1)}
    first_write: dict[str, float] = {}
    last_write: dict[str, float] = {}
    for write in writes:
        first_write.setdefault(write["sim_sid"], write["at"])
        last_write[write["sim_sid"]] = write["at"]
    # Waves of 2, then 4, then (8 = the concurrency: the ramp is over) the rest: no SIM of a
    # wave is deactivated before every SIM of the wave before it was back in service.
    waves = [range(1, 3), range(3, 7), range(7, 15)]
    for earlier, later in itertools.pairwise(waves):
        earlier_end = max(last_write[sid] for sid, row in rows.items() if row in earlier)
        later_start = min(first_write[sid] for sid, row in rows.items() if row in later)
        assert later_start > earlier_end, (earlier, later, writes)
    assert Counter(Counter(write["sim_sid"] for write in writes).values()) == {3: 14}


async def test_a_systemic_stop_shows_in_status_while_its_batch_still_runs(
    dev_env: WorkflowEnvironment, emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    # Without the private beta the first move after a deactivation is refused (83010): the
    # batch then restores the deactivated SIMs, which takes a scheduled delay, so it runs on
    # for a while after the stop. Its status must say so at once, not when the batch ends.
    emulator = await emulator_factory(seed_sims=10, scheduled_delay=(1.5, 2.0))
    async with campaign_test_stack(dev_env, emulator, tmp_path) as stack:
        m = Migrations(stack, tmp_path)
        active = await m.new_sims(6)
        await m.prepare(
            active, SimUpdate(status=SimStatus.ACTIVE, fleet=m.parent_fleets["default"])
        )
        source = tmp_path / "stopping.csv"
        source.write_text("".join(f"{sim.sid}\n" for sim in active))
        campaign = CampaignSpec(
            campaign_id="stopping",
            action=CampaignAction.MOVE,
            source=CampaignSource(file_name=source.name),
            migration=m.migration(deactivate_first=True, reactivate=True),
            batch_size=6,
        )
        handle = await start_campaign(stack.client, stack.settings, campaign, source)
        seen = []
        for _ in range(600):
            progress = await handle.query(CampaignWorkflow.progress)
            seen.append((progress.phase, progress.batches_in_flight, progress.stop_reason))
            if progress.stop_reason is not None or progress.phase == CampaignPhase.STOPPED:
                break
            await asyncio.sleep(0.05)
        result = await handle.result()

    phase, batches, stop_reason = seen[-1]
    assert result.phase == CampaignPhase.STOPPED
    assert stop_reason is not None and "83010" in stop_reason, seen
    # Known while the batch was still restoring its SIMs.
    assert (phase, batches) == (CampaignPhase.STOPPING, 1), seen
