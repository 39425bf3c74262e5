"""The Standard Webhooks headers of one delivery attempt, signed with `standardwebhooks`.

`webhook-id` is the event's ID on every attempt, so a receiver drops a repeat; the timestamp
is the attempt's, since receivers refuse a signature older than a few minutes.
"""

from __future__ import annotations

from datetime import UTC, datetime

from standardwebhooks import Webhook

from simops.notifications.events import CONTENT_TYPE

USER_AGENT = "simops-webhooks/1"


def signed_headers(secret: str, webhook_id: str, body: bytes, at: datetime) -> dict[str, str]:
    """The headers of an attempt at `at`: `webhook-id`, `webhook-timestamp`, and
    `webhook-signature` over `webhook-id.timestamp.body` with `secret` (`whsec_…`)."""
    moment = at.astimezone(UTC).replace(microsecond=0)
    signature = Webhook(secret).sign(webhook_id, moment, body)
    return {
        "content-type": CONTENT_TYPE,
        "user-agent": USER_AGENT,
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": signature,
    }
