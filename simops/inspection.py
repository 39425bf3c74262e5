"""A campaign as seen from outside a worker: its progress in one shape in every phase (counts
from the campaign store as SIMs end), the campaigns there are, and the signals that steer one.
The command line and the dashboard both use it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowQueryFailedError
from temporalio.service import RPCError

from simops.campaigns.reports import (
    out_of_service_summary,
)
from simops.campaigns.rows import PENDING
from simops.campaigns.spec import CampaignAction
from simops.campaigns.store.backends import store_backend
from simops.campaigns.store.campaign_store import CampaignStore
from simops.campaigns.store.errors import CampaignStoreError
from simops.core.sim import OutcomeKind
from simops.messages import CampaignProgress
from simops.runtime.settings import SimopsSettings
from simops.starters import (
    CampaignHandle,
    campaign_status,
)
from simops.workflows.campaign import CampaignWorkflow, campaign_workflow_id


def with_store_counts(
    settings: SimopsSettings, progress: CampaignProgress, *, ended: bool
) -> CampaignProgress:
    """The progress with counts read from the campaign store, which records each SIM as it
    ends (the workflow learns of them only as batches end); unchanged without a store here."""
    try:
        store = CampaignStore.open(store_backend(settings), progress.campaign_id)
    except CampaignStoreError:
        return progress
    with store:
        progress = progress.model_copy(update={"retry_of": store.spec.source.retry_of})
        total = store.row_count() or progress.total_rows
        if total is None or not store.is_prepared():
            return progress
        counts = store.counts()
        downtime = out_of_service_summary(store.out_of_service_seconds()) if ended else None
        canary = store.canary()
    pending = counts.get(PENDING, 0)
    ended_rows = total - pending
    run_by_sims = ended_rows - counts.get(OutcomeKind.INVALID.value, 0)
    rate = eta = None
    if progress.started_at is not None and run_by_sims > 0:
        until = progress.finished_at or datetime.now(UTC)
        elapsed = (until - progress.started_at).total_seconds()
        rate = run_by_sims / elapsed if elapsed > 0 else None
        eta = pending / rate if rate and not ended else None
    return progress.model_copy(
        update={
            "total_rows": total,
            "ended_rows": ended_rows,
            "counts": {kind: count for kind, count in counts.items() if count},
            "rows_per_second": rate,
            "eta_seconds": 0.0 if ended else eta,
            "out_of_service": downtime,
            "canary": canary,
        }
    )


async def campaign_progress(
    settings: SimopsSettings, handle: CampaignHandle, status: WorkflowExecutionStatus
) -> CampaignProgress:
    """A campaign's progress in one shape whatever its phase: a running campaign's progress,
    or an ended campaign's result with the same fields, counts from the store."""
    if status == WorkflowExecutionStatus.RUNNING:
        progress = await handle.query(CampaignWorkflow.progress)
        # The store is SQLite: read it on a thread, since the dashboard shares its event loop
        # with a worker in `simops dev`.
        return await asyncio.to_thread(with_store_counts, settings, progress, ended=False)
    result = await handle.result()
    action = await asyncio.to_thread(action_of, settings, result.campaign_id)
    if action is None:
        # No store on this machine: the ended workflow's last state tells the action.
        action = (await handle.query(CampaignWorkflow.progress)).action
    ended = CampaignProgress(
        campaign_id=result.campaign_id,
        action=action,
        phase=result.phase,
        total_rows=sum(result.counts.values()),
        counts=result.counts,
        ended_rows=sum(n for kind, n in result.counts.items() if kind != PENDING),
        eta_seconds=0.0,
        stop_reason=result.stop_reason,
        started_at=result.started_at,
        finished_at=result.finished_at,
    )
    return await asyncio.to_thread(with_store_counts, settings, ended, ended=True)


async def workflow_status(handle: CampaignHandle) -> WorkflowExecutionStatus:
    """The campaign workflow's status."""
    # A workflow being described always has a status; the SDK types it as optional.
    return (await handle.describe()).status or WorkflowExecutionStatus.RUNNING


CAMPAIGN_PREFIX = campaign_workflow_id("")

CAMPAIGN_SIGNALS = ("pause", "resume", "cancel")
"""The signals a person sends a running campaign (`cancel` takes a reason)."""


class CampaignNotRunningError(Exception):
    """The campaign is not running (ended, or never started): it takes no signal."""


async def signal_campaign(client: Client, campaign_id: str, signal: str, *arguments: str) -> None:
    """Send one of `CAMPAIGN_SIGNALS` to a running campaign; `CampaignNotRunningError` when it
    is not running, so that a signal never waits for a campaign started later under its ID."""
    if signal not in CAMPAIGN_SIGNALS:
        raise ValueError(f"unknown campaign signal {signal!r}")
    if await campaign_status(client, campaign_id) != WorkflowExecutionStatus.RUNNING:
        raise CampaignNotRunningError(campaign_id)
    await client.get_workflow_handle(campaign_workflow_id(campaign_id)).signal(signal, *arguments)


def action_of(settings: SimopsSettings, campaign_id: str) -> CampaignAction | None:
    """The campaign's action, from its store (`None` when this machine has no store of it)."""
    try:
        with CampaignStore.open(store_backend(settings), campaign_id) as store:
            return store.spec.action
    except CampaignStoreError:
        return None


@dataclass(frozen=True)
class ListedCampaign:
    """A campaign as Temporal lists it: its latest run, and its action from its store."""

    campaign_id: str
    action: CampaignAction | None
    """`None` when this machine has no store of the campaign."""
    status: WorkflowExecutionStatus | None
    run_id: str
    started_at: datetime | None
    closed_at: datetime | None


async def running_progress(client: Client, campaign_id: str) -> CampaignProgress | None:
    """A running campaign's progress, or `None` when no worker answers the query now."""
    handle = client.get_workflow_handle(campaign_workflow_id(campaign_id))
    try:
        return await handle.query(CampaignWorkflow.progress)
    except (RPCError, WorkflowQueryFailedError):
        return None


async def listed_campaigns(
    client: Client, settings: SimopsSettings, actions: frozenset[CampaignAction] | None = None
) -> AsyncIterator[ListedCampaign]:
    """Every campaign (of `actions`, when given), newest first, once each: a campaign that
    continued as new is listed by its latest run."""
    seen: set[str] = set()
    async for execution in client.list_workflows("WorkflowType = 'Campaign'"):
        campaign_id = execution.id.removeprefix(CAMPAIGN_PREFIX)
        if campaign_id in seen:
            continue
        seen.add(campaign_id)
        action = await asyncio.to_thread(action_of, settings, campaign_id)
        if actions is not None and action not in actions:
            continue
        yield ListedCampaign(
            campaign_id,
            action,
            execution.status,
            execution.run_id,
            execution.start_time,
            execution.close_time,
        )
