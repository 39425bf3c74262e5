"""Record a history of every workflow type for the replay test (tests/workflows/test_replay.py):
SIM operations, and a campaign, a migration and a rollback of it, each with a batch child.

Run it after a deliberate, versioned change to a workflow, and commit the files it writes:
    .venv/bin/python tools/record_histories.py tests/workflows/histories
The replay test then fails on any later change that would break these recorded executions.
Files recorded by older code stand for executions started before a change: keep them (rename
them) rather than overwrite them. `--held-only` records just the paused campaign (a ramp, a
pause that holds first writes inside a running batch, and the resume that releases them);
`--notify-only` just the campaign with a webhook receiver (and its notifier's history);
`--continuous-only` just the continuous campaign (a scan that finds SIMs arrived, a cancel).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from simops.campaigns.rows import CampaignPhase
from simops.campaigns.spec import (
    CampaignAction,
    CampaignSource,
    CampaignSpec,
    Continuous,
    MigrationSpec,
    Ramp,
)
from simops.clients.campaigns import CampaignHandle, start_campaign
from simops.clients.sims import start_sim_operation
from simops.contract import ALL_SEARCH_ATTRIBUTES, notifier_workflow_id
from simops.core.sim import SimStatus
from simops.devstack.in_process import LocalStack, local_stack
from simops.emulator.server import EmulatorOptions, start_emulator
from simops.runtime.binaries import temporal_dev_server
from simops.sim_messages import SimOperationRequest
from simops.workflows.campaign import CampaignWorkflow
from tests.helpers.supersim import EmulatorControl
from tests.helpers.webhook_receiver import TEST_NOTIFY_SECRET, webhook_receiver


async def _record(stack: LocalStack, name: str, request: SimOperationRequest, out: Path) -> None:
    handle = await start_sim_operation(stack.client, stack.settings.task_queue, request)
    outcome = await handle.result()
    history = await handle.fetch_history()
    (out / f"{name}.json").write_text(history.to_json())
    print(f"{name}: {outcome.outcome.value}, {len(history.events)} events")


async def _record_campaign(
    stack: LocalStack,
    name: str,
    spec: CampaignSpec,
    out: Path,
    steer: Callable[[CampaignHandle], Awaitable[None]] | None = None,
) -> None:
    """A campaign's history as `NAME.json`, its first batch child's as `NAME_batch.json`;
    `steer` signals the campaign while it runs."""
    handle = await start_campaign(stack.client, stack.settings, spec, None)
    if steer is not None:
        await steer(handle)
    await handle.result()
    history = await handle.fetch_history()
    (out / f"{name}.json").write_text(history.to_json())
    started = next(
        event.child_workflow_execution_started_event_attributes.workflow_execution
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED
        # A campaign with webhooks starts its notifier first.
        and "-batch-"
        in event.child_workflow_execution_started_event_attributes.workflow_execution.workflow_id
    )
    batch = stack.client.get_workflow_handle(started.workflow_id, run_id=started.run_id)
    batch_history = await batch.fetch_history()
    (out / f"{name}_batch.json").write_text(batch_history.to_json())
    print(f"{name}: {len(history.events)} events, batch {len(batch_history.events)} events")


async def _record_campaigns(stack: LocalStack, out: Path) -> None:
    """An activation campaign by filter, a migration to the child account, its rollback, and
    a migration with a canary."""
    emulator = stack.emulator
    child = emulator.accounts[1].account_sid
    await _record_campaign(
        stack,
        "campaign_activate",
        CampaignSpec(
            campaign_id="record-activate",
            action=CampaignAction.ACTIVATE,
            fleet=emulator.parent.fleets[0],
            source=CampaignSource(status=SimStatus.NEW),
            batch_size=4,
        ),
        out,
    )
    migration = CampaignSpec(
        campaign_id="record-migrate",
        action=CampaignAction.MOVE,
        source=CampaignSource(status=SimStatus.ACTIVE),
        # Active SIMs take the whole path (deactivate, move, reactivate): the batch's
        # history then holds every kind of round, settles included.
        migration=MigrationSpec(
            to_account=child,
            fleet_map={"default": "default"},
            deactivate_first=True,
            reactivate=True,
        ),
        batch_size=4,
    )
    await _record_campaign(stack, "campaign_migration", migration, out)
    await _record_campaign(
        stack,
        "campaign_rollback",
        CampaignSpec(
            campaign_id="record-rollback",
            action=CampaignAction.ROLLBACK,
            source=CampaignSource(rollback_of="record-migrate"),
            batch_size=4,
        ),
        out,
    )
    await _record_campaign(
        stack,
        "campaign_migration_canary",
        # The SIMs the rollback brought back: a canary batch first, then the others.
        migration.model_copy(update={"campaign_id": "record-migrate-canary", "canary": 2}),
        out,
    )


async def _pause_and_resume(handle: CampaignHandle) -> None:
    """Pause once the first SIMs were written (others still wait for their turn), resume."""
    await asyncio.sleep(1.5)
    await handle.signal(CampaignWorkflow.pause)
    await asyncio.sleep(2.0)
    await handle.signal(CampaignWorkflow.resume)


async def _record_held_campaign(stack: LocalStack, out: Path) -> None:
    """An activation at 2 requests/s with a ramp, paused while its first batch writes (some of
    its SIMs are held), resumed."""
    await _record_campaign(
        stack,
        "campaign_held",
        CampaignSpec(
            campaign_id="record-held",
            action=CampaignAction.ACTIVATE,
            fleet=stack.emulator.parent.fleets[0],
            source=CampaignSource(status=SimStatus.NEW),
            batch_size=8,
            rate=2.0,
            concurrency=8,
            ramp=Ramp(base=6, factor=2),
        ),
        out,
        _pause_and_resume,
    )


async def _record_notified_campaign(stack: LocalStack, out: Path) -> None:
    """An activation with a webhook receiver down for its first two deliveries, paused and
    resumed: the campaign's history and its notifier's (`campaign_notify_notifier.json`)."""
    async with webhook_receiver(down_for=2) as receiver:
        await _record_campaign(
            stack,
            "campaign_notify",
            CampaignSpec(
                campaign_id="record-notify",
                action=CampaignAction.ACTIVATE,
                fleet=stack.emulator.parent.fleets[0],
                source=CampaignSource(status=SimStatus.NEW),
                batch_size=4,
                rate=2.0,
                concurrency=4,
                notify_urls=[receiver.url],
            ),
            out,
            _pause_and_resume,
        )
        notifier = stack.client.get_workflow_handle(notifier_workflow_id("record-notify"))
        await notifier.result()
        history = await notifier.fetch_history()
    (out / "campaign_notify_notifier.json").write_text(history.to_json())
    print(f"campaign_notify_notifier: {len(history.events)} events")


async def _watching(handle: CampaignHandle, rows: int) -> None:
    """Wait until the campaign idles between scans with `rows` rows."""
    while True:
        progress = await handle.query(CampaignWorkflow.progress)
        if progress.phase is CampaignPhase.WATCHING and progress.total_rows == rows:
            return
        await asyncio.sleep(0.2)


async def _record_continuous_campaign(stack: LocalStack, out: Path) -> None:
    """A continuous activation scanning every 10 s: its first rows, then two SIMs that arrive
    while it watches (a scan appends them, a batch runs them), then a cancel."""
    emulator = stack.emulator
    first = len([sim async for sim in stack.api.list_sims(status=SimStatus.NEW)])

    async def arrive_then_cancel(handle: CampaignHandle) -> None:
        await _watching(handle, first)
        await EmulatorControl(emulator).add_sims(2)
        await _watching(handle, first + 2)
        await handle.signal(CampaignWorkflow.cancel, "recorded")

    await _record_campaign(
        stack,
        "campaign_continuous",
        CampaignSpec(
            campaign_id="record-continuous",
            action=CampaignAction.ACTIVATE,
            fleet=emulator.parent.fleets[0],
            source=CampaignSource(status=SimStatus.NEW),
            batch_size=4,
            continuous=Continuous(every_seconds=10),
        ),
        out,
        arrive_then_cancel,
    )


async def record(
    out: Path, *, held_only: bool = False, notify_only: bool = False, continuous_only: bool = False
) -> None:
    """Run one workflow per scenario and write each history as JSON into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_dev_server()),
        data_converter=pydantic_data_converter,
        search_attributes=ALL_SEARCH_ATTRIBUTES,
    )
    emulator = await start_emulator(
        EmulatorOptions(
            seed_sims=12,
            child_accounts=1,
            scheduled_delay=(0.05, 0.1),
            inactive_move_beta=True,
        )
    )
    campaigns = tempfile.TemporaryDirectory()
    try:
        async with local_stack(
            env.client,
            emulator,
            callback_wait_seconds=1.0,
            campaign_dir=Path(campaigns.name),
            notify_secret=TEST_NOTIFY_SECRET,
        ) as stack:
            sims = [sim.sid async for sim in stack.api.list_sims(status=SimStatus.NEW, limit=4)]
            fleet = emulator.parent.fleets[0]
            child = emulator.accounts[1].account_sid
            scenarios = {
                "activate_with_callback": SimOperationRequest(
                    sim_sid=sims[0], operation="activate", status=SimStatus.ACTIVE, fleet=fleet
                ),
                "activate_without_fleet_fails": SimOperationRequest(
                    sim_sid=sims[1], operation="activate", status=SimStatus.ACTIVE
                ),
                "move_to_child": SimOperationRequest(
                    sim_sid=sims[2], operation="move", account_sid=child, remove_fleet=True
                ),
                "deactivate_active": SimOperationRequest(
                    sim_sid=sims[0], operation="deactivate", status=SimStatus.INACTIVE
                ),
            }
            if held_only:
                await _record_held_campaign(stack, out)
                return
            if notify_only:
                await _record_notified_campaign(stack, out)
                return
            if continuous_only:
                await _record_continuous_campaign(stack, out)
                return
            for name, request in scenarios.items():
                await _record(stack, name, request, out)
            await _record_campaigns(stack, out)
            await _record_held_campaign(stack, out)
            await _record_notified_campaign(stack, out)
            await _record_continuous_campaign(stack, out)
    finally:
        await emulator.stop()
        await env.shutdown()
        campaigns.cleanup()


if __name__ == "__main__":
    flags = {"--held-only", "--notify-only", "--continuous-only"}
    arguments = [argument for argument in sys.argv[1:] if argument not in flags]
    asyncio.run(
        record(
            Path(arguments[0] if arguments else "tests/workflows/histories"),
            held_only="--held-only" in sys.argv[1:],
            notify_only="--notify-only" in sys.argv[1:],
            continuous_only="--continuous-only" in sys.argv[1:],
        )
    )
