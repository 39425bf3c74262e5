"""Continuous campaigns end to end on a dev server and the emulator: SIMs that arrive while the
campaign runs are found by its scans, activated once each (the emulator's write log says so),
announced by `rows_added` webhooks, and reported; a cancel ends it with every row reported."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from simops.campaigns.rows import CampaignPhase
from simops.campaigns.schedule import CampaignSchedule
from simops.campaigns.spec import CampaignAction, CampaignSource, Continuous
from simops.clients.campaigns import CampaignHandle, campaign_progress, start_campaign
from simops.core.sim import SimStatus
from simops.devstack.in_process import LocalStack
from simops.messages import CampaignProgress
from simops.workflows.campaign import CampaignWorkflow
from tests.helpers.campaigns import report, spec
from tests.helpers.stacks import campaign_test_stack, emulator_writes
from tests.helpers.supersim import EmulatorControl
from tests.helpers.webhook_receiver import TEST_NOTIFY_SECRET, webhook_receiver

SEEDED = 30
EVERY_SECONDS = 10.0


async def _progress_until(
    stack: LocalStack,
    handle: CampaignHandle,
    done: Callable[[CampaignProgress], bool],
    within: float = 90.0,
) -> CampaignProgress:
    """The campaign's progress (as `status -o json` reads it) once `done` holds of it."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        progress = await campaign_progress(stack.settings, handle, WorkflowExecutionStatus.RUNNING)
        if done(progress):
            return progress
        assert asyncio.get_running_loop().time() < deadline, progress.model_dump_json(indent=1)
        await asyncio.sleep(0.5)


def _converged(count: int) -> Callable[[CampaignProgress], bool]:
    """Every one of `count` rows converged and the campaign idles until its next scan."""
    return lambda progress: (
        progress.phase is CampaignPhase.WATCHING
        and progress.counts.get("converged") == count
        and progress.total_rows == count
    )


async def test_a_continuous_campaign_activates_sims_that_arrive_while_it_runs(
    dev_env: WorkflowEnvironment, emulator_factory: Any, tmp_path: Path
) -> None:
    emulator = await emulator_factory(seed_sims=SEEDED, scheduled_delay=(0.05, 0.2))
    control = EmulatorControl(emulator)
    async with (
        webhook_receiver() as receiver,
        campaign_test_stack(dev_env, emulator, tmp_path, notify_secret=TEST_NOTIFY_SECRET) as stack,
    ):
        campaign = spec(
            "arrivals",
            CampaignAction.ACTIVATE,
            source=CampaignSource(status=SimStatus.NEW),
            fleet=emulator.parent.fleets[0],
            continuous=Continuous(every_seconds=EVERY_SECONDS),
            # Two batches a run: the campaign continues as new, its scans' state carried.
            batches_per_run=2,
            notify_urls=[receiver.url],
        )
        handle = await start_campaign(stack.client, stack.settings, campaign, None)
        first = await _progress_until(stack, handle, _converged(SEEDED))

        arrived = await control.add_sims(5)
        second = await _progress_until(stack, handle, _converged(SEEDED + 5))
        later = await control.add_sims(3)
        third = await _progress_until(stack, handle, _converged(SEEDED + 8))

        await handle.signal(CampaignWorkflow.cancel, "the shipments are in")
        result = await handle.result()
        ended = await campaign_progress(stack.settings, handle, WorkflowExecutionStatus.COMPLETED)
        rows = report(stack, "arrivals")
        writes = await emulator_writes(emulator)
        await _events_arrived(receiver, "simops.campaign.cancelled")

    assert first.continuous is not None and first.continuous.rows_added == 0
    assert second.continuous is not None and second.continuous.rows_added == 5
    assert third.continuous is not None and third.continuous.rows_added == 8
    assert third.continuous.scans >= 2 and third.continuous.every_seconds == EVERY_SECONDS
    next_scan_at = third.continuous.next_scan_at
    assert next_scan_at is not None
    assert next_scan_at - datetime.now(UTC) < timedelta(seconds=EVERY_SECONDS + 5)
    assert '"next_scan_at"' in third.model_dump_json()

    assert result.phase is CampaignPhase.CANCELLED
    assert result.counts.get("converged") == SEEDED + 8
    assert result.continuous is not None and result.continuous.rows_added == 8
    assert ended.phase is CampaignPhase.CANCELLED and ended.continuous == result.continuous
    assert ended.continuous.next_scan_at is None

    # The report grew with each scan: every row once, in order, each SIM converged.
    assert [int(row["row_no"]) for row in rows] == list(range(1, SEEDED + 9))
    assert Counter(row["outcome"] for row in rows) == {"converged": SEEDED + 8}
    added_sids = [sim["sid"] for sim in [*arrived, *later]]
    assert [row["sim_sid"] for row in rows[SEEDED:]] == added_sids
    assert {row["after_status"] for row in rows} == {"active"}

    # The emulator's own record: each SIM written exactly once, the arrivals included.
    written = Counter(write["sim_sid"] for write in writes)
    assert set(written) == {row["sim_sid"] for row in rows}
    assert set(written.values()) == {1}
    assert {write["status"] for write in writes} == {"active"}

    added_events = [
        event["data"] for event in receiver.events if event["type"] == "simops.campaign.rows_added"
    ]
    assert added_events == [
        {"first_row": SEEDED + 1, "last_row": SEEDED + 5, "row_count": 5},
        {"first_row": SEEDED + 6, "last_row": SEEDED + 8, "row_count": 3},
    ]
    phases = [
        event["data"]["phase"]
        for event in receiver.events
        if event["type"] == "simops.campaign.phase_changed"
    ]
    assert "watching" in phases


async def _events_arrived(receiver: Any, final_type: str, within: float = 30.0) -> None:
    """Wait until the receiver got the campaign's last event (deliveries outlive the run)."""
    deadline = asyncio.get_running_loop().time() + within
    while not any(event["type"] == final_type for event in receiver.events):
        assert asyncio.get_running_loop().time() < deadline, receiver.events
        await asyncio.sleep(0.2)


async def test_a_continuous_campaign_ends_at_its_end_time(campaign_stack: LocalStack) -> None:
    stack = campaign_stack
    end_at = datetime.now(UTC) + timedelta(seconds=15)
    campaign = spec(
        "until-the-end",
        CampaignAction.ACTIVATE,
        source=CampaignSource(status=SimStatus.NEW),
        fleet=stack.emulator.parent.fleets[0],
        continuous=Continuous(every_seconds=EVERY_SECONDS),
        schedule=CampaignSchedule(end_at=end_at),
    )

    handle = await start_campaign(stack.client, stack.settings, campaign, None)
    result = await asyncio.wait_for(handle.result(), timeout=60)

    assert result.phase is CampaignPhase.STOPPED
    assert result.stop_reason == "end time reached"
    assert result.finished_at is not None and result.finished_at >= end_at
    assert result.finished_at - end_at < timedelta(seconds=5)
    assert result.counts.get("converged") == 60
    assert result.continuous is not None and result.continuous.scans >= 1
