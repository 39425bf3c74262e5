"""A campaign in one shape whatever became of its workflow: its progress and the phase to show,
the campaign's own, how its workflow ended without a result (`terminated`…), or `unanswered`
when no worker answered the progress query. The dashboard and the JSON API both show it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowQueryFailedError
from temporalio.service import RPCError

from simops.campaigns.rows import CampaignPhase
from simops.campaigns.spec import MIGRATION_ACTIONS
from simops.clients.campaigns import (
    ListedCampaign,
    campaign_handle,
    campaign_progress,
    started_spec,
    with_store_counts,
)
from simops.messages import CampaignProgress
from simops.runtime.settings import SimopsSettings

QUERY_TIMEOUT_SECONDS = 3.0
"""How long a page waits for a campaign's workflow to answer its `progress` query."""
NO_ANSWER = "unanswered"
"""The phase shown when no worker answered the query: the store's counts are shown anyway."""
QUERY_FAILURES = (TimeoutError, RPCError, WorkflowQueryFailedError)
ENDED_STATES = tuple(
    status.name.lower()
    for status in WorkflowExecutionStatus
    if status
    not in (
        WorkflowExecutionStatus.RUNNING,
        WorkflowExecutionStatus.COMPLETED,
        WorkflowExecutionStatus.CONTINUED_AS_NEW,
    )
)
"""What a campaign whose workflow ended without a result shows as its phase (`terminated`…)."""
PHASES = (*(phase.value for phase in CampaignPhase), *ENDED_STATES, NO_ANSWER)
"""Every phase the campaigns page can show, and filter by."""


@dataclass(frozen=True)
class CampaignSummary:
    """One campaign as the dashboard and the API show it: its progress and the phase to show."""

    progress: CampaignProgress
    phase: str
    """The campaign's phase, or how its workflow ended when it ended without a result."""
    running: bool
    note: str | None = None
    """Why the phase is not the campaign's own (a workflow that failed, a query unanswered)."""

    @property
    def campaign_id(self) -> str:
        """The campaign's ID."""
        return self.progress.campaign_id

    @property
    def percent(self) -> float | None:
        """How much of the campaign has ended, in percent (`None` until its rows are known)."""
        total = self.progress.total_rows
        return 100.0 * self.progress.ended_rows / total if total else None

    @property
    def migration(self) -> bool:
        """Whether it is a migration (`simops migrate`): a move or a rollback."""
        return self.progress.action in MIGRATION_ACTIONS


async def campaign_summary(
    client: Client, settings: SimopsSettings, listed: ListedCampaign
) -> CampaignSummary:
    """The campaign's summary: its progress (counts from the store) and the phase to show."""
    status = listed.status
    running = status == WorkflowExecutionStatus.RUNNING
    if status in (WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.COMPLETED):
        handle = campaign_handle(client, listed.campaign_id)
        try:
            progress = await asyncio.wait_for(
                campaign_progress(settings, handle, status), QUERY_TIMEOUT_SECONDS
            )
        except QUERY_FAILURES:
            # Counts still come from the store; say why the phase is unknown.
            note = "no worker answered the progress query: the counts are the store's"
            return await _from_store(client, settings, listed, NO_ANSWER, note)
        return CampaignSummary(progress, progress.phase.value, running)
    state = status.name.lower() if status is not None else "unknown"
    note = f"the campaign's workflow ended {state}: see the Temporal Web UI"
    return await _from_store(client, settings, listed, state, note)


async def _from_store(
    client: Client, settings: SimopsSettings, listed: ListedCampaign, phase: str, note: str
) -> CampaignSummary:
    running = listed.status == WorkflowExecutionStatus.RUNNING
    action = listed.action or (await started_spec(client, listed.campaign_id)).action
    bare = CampaignProgress(
        campaign_id=listed.campaign_id,
        action=action,
        phase=CampaignPhase.RUNNING if running else CampaignPhase.STOPPED,
        started_at=listed.started_at,
        finished_at=listed.closed_at,
    )
    progress = await asyncio.to_thread(with_store_counts, settings, bare, ended=not running)
    return CampaignSummary(progress, phase, running, note)
