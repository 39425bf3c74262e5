"""The activities of a campaign's webhooks: name its receivers, collect the rows that ended,
and deliver one event to one receiver (one attempt; Temporal retries it for 24 hours).

The secret is read here, from the worker's settings, at each attempt: it is never in a workflow
input or history.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import aiohttp
from temporalio import activity
from temporalio.exceptions import ApplicationError

from simops.campaigns.store.backends import store_backend
from simops.campaigns.store.campaign_store import CampaignStore
from simops.messages import (
    DeliveryRequest,
    DeliveryResult,
    EndedRowsRequest,
    EndedRowsResult,
    NotifyTargets,
    NotifyTargetsRequest,
)
from simops.notifications.events import event_body
from simops.notifications.signing import signed_headers
from simops.notifications.targets import merged_targets, shown_url
from simops.runtime.settings import SimopsSettings
from simops.supersim.errors import mask_iccids

DELIVERY_TIMEOUT_SECONDS = 15.0
"""How long one attempt waits for a receiver's answer (Standard Webhooks suggests 15 s)."""
WEBHOOK_REFUSED = "WebhookRefused"
"""The error type of an attempt the receiver answered without a 2xx, or never answered."""
log = logging.getLogger(__name__)


class NotificationActivities:
    """Webhook activities over the worker's settings (a session per attempt: deliveries are few,
    and nothing is left open when the worker stops)."""

    def __init__(self, settings: SimopsSettings) -> None:
        self._settings = settings

    @activity.defn(name="notify_targets")
    async def notify_targets(self, request: NotifyTargetsRequest) -> NotifyTargets:
        """The campaign's receivers: its `--notify` URLs, then `SIMOPS_NOTIFY_URLS`."""
        return NotifyTargets(urls=merged_targets(request.campaign_urls, self._settings.notify_urls))

    @activity.defn(name="collect_ended_rows")
    async def collect_ended_rows(self, request: EndedRowsRequest) -> EndedRowsResult:
        """The rows that ended since the previous collection, recorded as reported."""

        def collect() -> EndedRowsResult:
            with CampaignStore.open(store_backend(self._settings), request.campaign_id) as store:
                return EndedRowsResult(ranges=store.collect_ended_rows(request.collection))

        return await asyncio.to_thread(collect)

    @activity.defn(name="deliver_event")
    async def deliver_event(self, request: DeliveryRequest) -> DeliveryResult:
        """POST the event to the receiver, signed; a 2xx delivers it, anything else fails this
        attempt (retried with backoff until 24 hours after the event)."""
        shown = shown_url(request.url)
        secret = self._settings.notify_secret
        if secret is None:
            # Retried: configuring the secret and restarting the worker delivers the backlog.
            raise ApplicationError(
                "this worker has no SIMOPS_NOTIFY_SECRET to sign webhooks with",
                type=WEBHOOK_REFUSED,
            )
        body = event_body(request.event)
        headers = signed_headers(
            secret.get_secret_value(), request.event.event_id, body, datetime.now(UTC)
        )
        attempt = activity.info().attempt
        timeout = aiohttp.ClientTimeout(total=DELIVERY_TIMEOUT_SECONDS)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(
                    request.url, data=body, headers=headers, allow_redirects=False
                ) as response,
            ):
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as error:
            # No chained cause: the message is kept in the history, and it names only the host.
            raise ApplicationError(
                mask_iccids(f"{shown}: {type(error).__name__} {error}".replace(request.url, shown)),
                type=WEBHOOK_REFUSED,
            ) from None
        if not 200 <= status < 300:
            raise ApplicationError(f"{shown} answered HTTP {status}", status, type=WEBHOOK_REFUSED)
        log.debug("delivered %s to %s (attempt %s)", request.event.event_id, shown, attempt)
        return DeliveryResult(status=status, attempt=attempt)
