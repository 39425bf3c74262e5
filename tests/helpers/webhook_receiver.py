"""A webhook receiver for tests: an aiohttp server that answers 503 to its first deliveries,
then 200, verifying every signature with the `standardwebhooks` package (not simops' code)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from standardwebhooks import Webhook

from tests.helpers.http_servers import serving

TEST_NOTIFY_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
"""The Standard Webhooks secret of the tests (base64 of 24 bytes)."""


@dataclass
class ReceivedWebhook:
    """One request the receiver accepted: its headers, raw body and verified event."""

    webhook_id: str
    body: bytes
    event: dict[str, Any]


@dataclass
class WebhookReceiver:
    """What the receiver saw: requests refused (while down) and accepted, in arrival order."""

    url: str
    down_for: int
    refused: int = 0
    accepted: list[ReceivedWebhook] = field(default_factory=list)
    bad_signatures: int = 0

    @property
    def events(self) -> list[dict[str, Any]]:
        """The accepted events, in arrival order."""
        return [received.event for received in self.accepted]


@asynccontextmanager
async def webhook_receiver(
    secret: str = TEST_NOTIFY_SECRET, *, down_for: int = 0
) -> AsyncIterator[WebhookReceiver]:
    """Serve a receiver on a free loopback port: 503 to the first `down_for` requests."""
    verifier = Webhook(secret)
    receiver = WebhookReceiver(url="", down_for=down_for)

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        if receiver.refused < receiver.down_for:
            receiver.refused += 1
            return web.Response(status=503)
        try:
            event = verifier.verify(body, dict(request.headers))
        except Exception:
            receiver.bad_signatures += 1
            return web.Response(status=400)
        receiver.accepted.append(ReceivedWebhook(request.headers["webhook-id"], body, event))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hooks/simops", receive)
    async with serving(app) as root:
        receiver.url = f"{root}/hooks/simops?token=receiver-token"
        yield receiver


def event_types(receiver: WebhookReceiver) -> list[str]:
    """The `type` of every accepted event, in arrival order."""
    return [str(event["type"]) for event in receiver.events]


def bodies_text(receiver: WebhookReceiver) -> str:
    """Every accepted body, as one text to search."""
    return "\n".join(json.dumps(event) for event in receiver.events)
