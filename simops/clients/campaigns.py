"""A campaign from outside a worker: start it (once per ID and spec), its progress in one
shape in every phase (counts from the campaign store as SIMs end), the campaigns there are, and
the signals that steer one. The command line and the dashboard both use it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from simops.campaigns.identity import spec_differences, with_file_sha256
from simops.campaigns.reports import out_of_service_summary
from simops.campaigns.rows import PENDING
from simops.campaigns.spec import CampaignAction, CampaignSpec
from simops.campaigns.store.backends import store_backend
from simops.campaigns.store.campaign_store import CampaignStore
from simops.campaigns.store.errors import (
    CampaignExistsError,
    CampaignNotFoundError,
    CampaignStoreError,
)
from simops.clients.accounts import campaign_share
from simops.clients.handles import described
from simops.contract import (
    CAMPAIGN_WORKFLOW,
    campaign_id_of,
    campaign_priority,
    campaign_workflow_id,
)
from simops.core.sim import OutcomeKind
from simops.messages import CampaignProgress, CampaignResult, CampaignRunInput
from simops.runtime.settings import SimopsSettings
from simops.workflows.campaign import CampaignWorkflow

CampaignHandle = WorkflowHandle[CampaignWorkflow, CampaignResult]


def campaign_handle(client: Client, campaign_id: str) -> CampaignHandle:
    """A typed handle on the campaign's workflow (its latest run)."""
    return client.get_workflow_handle_for(CampaignWorkflow.run, campaign_workflow_id(campaign_id))


class CampaignAlreadyStartedError(Exception):
    """A campaign with this ID and this very spec exists: starting it again starts nothing."""

    def __init__(self, campaign_id: str, status: WorkflowExecutionStatus | None) -> None:
        self.campaign_id = campaign_id
        self.status = status
        state = status.name.lower() if status is not None else "started"
        super().__init__(
            f"campaign {campaign_id} already exists ({state}) with the same spec: "
            "not starting a second one"
        )


class CampaignSpecConflictError(Exception):
    """A campaign with this ID exists with another spec: starting it would run a spec the user
    did not give (its workflow and store keep the one recorded first)."""

    def __init__(self, campaign_id: str, differences: list[str]) -> None:
        self.campaign_id = campaign_id
        self.differences = differences
        super().__init__(
            f"campaign {campaign_id} exists with another spec ({'; '.join(differences)}): "
            "not starting it; give another --id"
        )


async def campaign_status(client: Client, campaign_id: str) -> WorkflowExecutionStatus | None:
    """The campaign workflow's status, or None when no such campaign was ever started."""
    description = await described(campaign_handle(client, campaign_id))
    return description.status if description is not None else None


async def started_spec(client: Client, campaign_id: str) -> CampaignSpec:
    """The spec the campaign's workflow (its latest run) was started with, from its history."""
    handle = campaign_handle(client, campaign_id)
    first = await anext(aiter(handle.fetch_history_events(page_size=1)))
    payloads = first.workflow_execution_started_event_attributes.input.payloads
    (run_input,) = await client.data_converter.decode(payloads, [CampaignRunInput])
    spec: CampaignSpec = run_input.spec
    return spec


def _recorded(spec: CampaignSpec, stored_sha256: str | None) -> CampaignSpec:
    """`spec` as recorded; one recorded before digests were gets its stored file's digest (the
    file it runs from)."""
    if spec.source.file_sha256 is not None or stored_sha256 is None:
        return spec
    source = spec.source.model_copy(update={"file_sha256": stored_sha256})
    return spec.model_copy(update={"source": source})


async def _existing_differences(
    client: Client, settings: SimopsSettings, spec: CampaignSpec, started: bool
) -> list[str]:
    """How `spec` differs from the one stored under its ID and, when `started`, from the one
    its workflow runs (they differ too when an earlier start mixed two specs)."""
    differences: list[str] = []
    stored_sha256: str | None = None
    with (
        contextlib.suppress(CampaignNotFoundError),
        CampaignStore.open(store_backend(settings), spec.campaign_id) as store,
    ):
        stored_sha256 = store.source_sha256()
        differences += spec_differences(_recorded(store.spec, stored_sha256), spec, "stored")
    if started:
        running = _recorded(await started_spec(client, spec.campaign_id), stored_sha256)
        differences += spec_differences(running, spec, "started")
    return differences


async def start_campaign(
    client: Client, settings: SimopsSettings, spec: CampaignSpec, source_file: Path | None
) -> CampaignHandle:
    """Write the campaign's store and start its workflow, once per campaign ID and spec.

    An ID in use is never started with another spec: `CampaignSpecConflictError` names each
    field of the store's or the workflow's spec that differs (the source file's digest
    included). With the same spec, `CampaignAlreadyStartedError` when its workflow exists;
    a store without a workflow (a start that stopped between the two) gets its workflow.
    """
    spec = with_file_sha256(spec, source_file)
    status = await campaign_status(client, spec.campaign_id)
    if status is None:
        try:
            CampaignStore.create(store_backend(settings), spec, source_file).close()
        except CampaignExistsError:
            differences = await _existing_differences(client, settings, spec, started=False)
            if differences:
                raise CampaignSpecConflictError(spec.campaign_id, differences) from None
        try:
            return await client.start_workflow(
                CampaignWorkflow.run,
                CampaignRunInput(spec=spec),
                id=campaign_workflow_id(spec.campaign_id),
                task_queue=settings.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                priority=campaign_priority(spec.campaign_id, spec.weight),
            )
        except WorkflowAlreadyStartedError:
            # Another start of this ID got there first: its workflow is the one to compare with.
            status = await campaign_status(client, spec.campaign_id)
    differences = await _existing_differences(client, settings, spec, started=True)
    if differences:
        raise CampaignSpecConflictError(spec.campaign_id, differences)
    raise CampaignAlreadyStartedError(spec.campaign_id, status)


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
    share = None if ended else campaign_share(settings, progress.campaign_id)
    return progress.model_copy(
        update={
            "share": share,
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
        continuous=result.continuous,
    )
    return await asyncio.to_thread(with_store_counts, settings, ended, ended=True)


async def workflow_status(handle: CampaignHandle) -> WorkflowExecutionStatus:
    """The campaign workflow's status."""
    # A workflow being described always has a status; the SDK types it as optional.
    return (await handle.describe()).status or WorkflowExecutionStatus.RUNNING


class CampaignControl(StrEnum):
    """What a person tells a running campaign: the CLI's commands, the dashboard's buttons."""

    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"


class CampaignNotRunningError(Exception):
    """The campaign is not running (ended, or never started): it takes no signal."""


async def control_campaign(
    client: Client, campaign_id: str, control: CampaignControl, reason: str = ""
) -> None:
    """Send `control` (a cancel with its `reason`) to a running campaign, by the workflow's
    signal; `CampaignNotRunningError` when it is not running, so that a signal never waits for
    a campaign started later under its ID."""
    if await campaign_status(client, campaign_id) != WorkflowExecutionStatus.RUNNING:
        raise CampaignNotRunningError(campaign_id)
    handle = campaign_handle(client, campaign_id)
    match control:
        case CampaignControl.PAUSE:
            await handle.signal(CampaignWorkflow.pause)
        case CampaignControl.RESUME:
            await handle.signal(CampaignWorkflow.resume)
        case CampaignControl.CANCEL:
            await handle.signal(CampaignWorkflow.cancel, reason)


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


async def listed_campaign(
    client: Client, settings: SimopsSettings, campaign_id: str
) -> ListedCampaign | None:
    """One campaign as `listed_campaigns` lists it (`None` when it was never started)."""
    description = await described(campaign_handle(client, campaign_id))
    if description is None:
        return None
    action = await asyncio.to_thread(action_of, settings, campaign_id)
    return ListedCampaign(
        campaign_id,
        action,
        description.status,
        description.run_id,
        description.start_time,
        description.close_time,
    )


async def running_progress(client: Client, campaign_id: str) -> CampaignProgress | None:
    """A running campaign's progress, or `None` when no worker answers the query now."""
    try:
        return await campaign_handle(client, campaign_id).query(CampaignWorkflow.progress)
    except (RPCError, WorkflowQueryFailedError):
        return None


async def listed_campaigns(
    client: Client, settings: SimopsSettings, actions: frozenset[CampaignAction] | None = None
) -> AsyncIterator[ListedCampaign]:
    """Every campaign (of `actions`, when given), newest first, once each: a campaign that
    continued as new is listed by its latest run."""
    seen: set[str] = set()
    async for execution in client.list_workflows(f"WorkflowType = '{CAMPAIGN_WORKFLOW}'"):
        campaign_id = campaign_id_of(execution.id)
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
