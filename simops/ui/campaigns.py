"""What the dashboard shows of campaigns, read the way the CLI reads them: Temporal lists them and
answers the `progress` query, the campaign store counts rows, groups failures and times them.

Every store read runs on a thread: the store is SQLite, and in `simops dev` the dashboard shares
its event loop with a worker, whose heartbeats must not wait for a page.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime

from temporalio.client import Client

from simops.campaigns.spec import CampaignAction, CampaignSpec
from simops.campaigns.store.backends import store_backend
from simops.campaigns.store.campaign_store import CampaignStore, FailureGroup, ThroughputBucket
from simops.campaigns.store.errors import CampaignStoreError
from simops.clients.campaigns import (
    CampaignControl,
    ListedCampaign,
    control_campaign,
    listed_campaign,
    listed_campaigns,
)
from simops.clients.notifications import webhook_deliveries
from simops.clients.summaries import QUERY_TIMEOUT_SECONDS, CampaignSummary, campaign_summary
from simops.messages import WebhookDelivery
from simops.runtime.settings import SimopsSettings
from simops.ui.chart import ThroughputChart, bucket_seconds, throughput_chart


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
        summary = await campaign_summary(self.client, self.settings, listed)
        if not summary.running:
            self._ended[key] = summary
        return summary
