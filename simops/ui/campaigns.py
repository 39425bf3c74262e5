"""What the dashboard shows of campaigns, read the way the CLI reads them: Temporal lists them and
answers the `progress` query, the campaign store counts rows, groups failures and times them.

Every store read runs on a thread: the store is SQLite, and in `simops dev` the dashboard shares
its event loop with a worker, whose heartbeats must not wait for a page.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowQueryFailedError
from temporalio.service import RPCError

from simops.campaigns.reports import write_report
from simops.campaigns.rows import CampaignPhase
from simops.campaigns.spec import MIGRATION_ACTIONS, CampaignAction, CampaignSpec
from simops.campaigns.store.backends import store_backend
from simops.campaigns.store.campaign_store import CampaignStore, FailureGroup, ThroughputBucket
from simops.campaigns.store.errors import CampaignStoreError
from simops.clients.campaigns import (
    CampaignControl,
    ListedCampaign,
    campaign_handle,
    campaign_progress,
    control_campaign,
    listed_campaign,
    listed_campaigns,
    started_spec,
    with_store_counts,
)
from simops.clients.notifications import webhook_deliveries
from simops.messages import CampaignProgress, WebhookDelivery
from simops.runtime.settings import SimopsSettings
from simops.ui.chart import ThroughputChart, bucket_seconds, throughput_chart

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
    """One campaign as both pages show it: its progress and the phase to show."""

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


@dataclass(frozen=True)
class CampaignDetail:
    """Everything the campaign page shows beyond its summary."""

    summary: CampaignSummary
    spec: CampaignSpec | None
    """`None` when this machine has no store of the campaign (nothing more to show)."""
    failures: list[FailureGroup] = field(default_factory=list)
    chart: ThroughputChart | None = None
    rollbacks: list[str] = field(default_factory=list)
    """The rollbacks started for this migration."""
    deliveries: list[WebhookDelivery] | None = None
    """Its webhooks per receiver (`None`: it sends none, or no worker answered)."""


@dataclass(frozen=True)
class _StoreView:
    spec: CampaignSpec
    failures: list[FailureGroup]
    buckets: list[ThroughputBucket]
    rollbacks: list[str]


def _rollbacks_of(settings: SimopsSettings, migration_id: str) -> list[str]:
    found = []
    for campaign_id in CampaignStore.list_ids(store_backend(settings)):
        try:
            with CampaignStore.open(store_backend(settings), campaign_id) as store:
                if store.spec.source.rollback_of == migration_id:
                    found.append(campaign_id)
        except CampaignStoreError:
            continue
    return found


def _read_store(settings: SimopsSettings, campaign_id: str, interval: int) -> _StoreView | None:
    try:
        store = CampaignStore.open(store_backend(settings), campaign_id)
    except CampaignStoreError:
        return None
    with store:
        spec = store.spec
        failures = store.failure_groups()
        buckets = store.throughput(interval)
    rollbacks = _rollbacks_of(settings, campaign_id) if spec.action is CampaignAction.MOVE else []
    return _StoreView(spec, failures, buckets, rollbacks)


def write_report_to(settings: SimopsSettings, campaign_id: str, fmt: str, out: IO[bytes]) -> bool:
    """Write the campaign's report as `fmt` (csv or json) to `out`, UTF-8; `False` when this
    machine has no store of it. The dashboard writes it to a temporary file, so that a million
    rows never sit in memory nor hold the event loop."""
    try:
        store = CampaignStore.open(store_backend(settings), campaign_id)
    except CampaignStoreError:
        return False
    with store:
        text = io.TextIOWrapper(out, encoding="utf-8", newline="")
        write_report(store.report_rows(), text, fmt)
        text.flush()
        # Leave `out` open for its owner to read back.
        text.detach()
    return True


def read_chunks(spool: IO[bytes], size: int = 1 << 16) -> Iterator[bytes]:
    """The file's content, `size` bytes at a time."""
    while chunk := spool.read(size):
        yield chunk


class Dashboard:
    """The campaigns of one Temporal namespace and one campaign directory, as pages show them.

    A campaign that ended does not change: its summary is kept (by run), so that a page listing
    hundreds of ended campaigns every two seconds asks Temporal only about the running ones.
    """

    def __init__(self, settings: SimopsSettings, client: Client) -> None:
        self.settings = settings
        self.client = client
        self._ended: dict[tuple[str, str], CampaignSummary] = {}

    async def campaigns(self) -> list[CampaignSummary]:
        """Every campaign and migration, newest first."""
        listed = [item async for item in listed_campaigns(self.client, self.settings)]
        return list(await asyncio.gather(*(self._summary(item) for item in listed)))

    async def campaign(self, campaign_id: str) -> CampaignSummary | None:
        """One campaign's summary (`None` when no such campaign was ever started)."""
        listed = await listed_campaign(self.client, self.settings, campaign_id)
        return await self._summary(listed) if listed is not None else None

    async def detail(self, campaign_id: str) -> CampaignDetail | None:
        """One campaign's page (`None` when no such campaign was ever started)."""
        summary = await self.campaign(campaign_id)
        if summary is None:
            return None
        progress = summary.progress
        until = progress.finished_at or datetime.now(UTC)
        started = progress.started_at or until
        interval = bucket_seconds(started, until)
        view = await asyncio.to_thread(_read_store, self.settings, campaign_id, interval)
        try:
            deliveries = await asyncio.wait_for(
                webhook_deliveries(self.client, campaign_id), QUERY_TIMEOUT_SECONDS
            )
        except TimeoutError:
            deliveries = None
        if view is None:
            return CampaignDetail(summary, None, deliveries=deliveries)
        chart = throughput_chart(view.buckets, started, until, interval, view.spec.rate)
        return CampaignDetail(
            summary, view.spec, view.failures, chart, view.rollbacks, deliveries=deliveries
        )

    async def control(self, campaign_id: str, control: CampaignControl, reason: str) -> None:
        """Send `pause`, `resume` or `cancel` (with its `reason`) as the CLI does;
        `CampaignNotRunningError` when the campaign is not running."""
        await control_campaign(self.client, campaign_id, control, reason)

    async def _summary(self, listed: ListedCampaign) -> CampaignSummary:
        key = (listed.campaign_id, listed.run_id)
        kept = self._ended.get(key)
        if kept is not None:
            return kept
        status = listed.status
        running = status == WorkflowExecutionStatus.RUNNING
        if status in (WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.COMPLETED):
            handle = campaign_handle(self.client, listed.campaign_id)
            try:
                progress = await asyncio.wait_for(
                    campaign_progress(self.settings, handle, status), QUERY_TIMEOUT_SECONDS
                )
            except QUERY_FAILURES:
                # Counts still come from the store; say why the phase is unknown.
                note = "no worker answered the progress query: the counts are the store's"
                return await self._from_store(listed, NO_ANSWER, note, running)
            summary = CampaignSummary(progress, progress.phase.value, running)
        else:
            state = status.name.lower() if status is not None else "unknown"
            note = f"the campaign's workflow ended {state}: see the Temporal Web UI"
            summary = await self._from_store(listed, state, note, running)
        if not running:
            self._ended[key] = summary
        return summary

    async def _from_store(
        self, listed: ListedCampaign, phase: str, note: str, running: bool
    ) -> CampaignSummary:
        action = listed.action or (await started_spec(self.client, listed.campaign_id)).action
        bare = CampaignProgress(
            campaign_id=listed.campaign_id,
            action=action,
            phase=CampaignPhase.RUNNING if running else CampaignPhase.STOPPED,
            started_at=listed.started_at,
            finished_at=listed.closed_at,
        )
        progress = await asyncio.to_thread(
            with_store_counts, self.settings, bare, ended=not running
        )
        return CampaignSummary(progress, phase, running, note)
