"""Campaign events as receivers get them: CloudEvents 1.0, signed as Standard Webhooks say
(checked with the `standardwebhooks` package), with no ICCID in a body."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from standardwebhooks import Webhook

from simops.notifications.ended_rows import EndedRowRange
from simops.notifications.events import (
    CampaignEventType,
    event_body,
    phase_changed_event,
    rows_added_event,
    rows_ended_event,
)
from simops.notifications.signing import signed_headers
from tests.helpers.webhook_receiver import TEST_NOTIFY_SECRET

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_a_body_is_a_cloudevent_signed_as_standard_webhooks_say() -> None:
    event = rows_ended_event(
        "evt_1", "launch-1", AT, [EndedRowRange(first_row=1, last_row=3, outcome="converged")]
    ).model_copy(update={"sequence": 7})
    body = event_body(event)
    headers = signed_headers(TEST_NOTIFY_SECRET, event.event_id, body, datetime.now(UTC))

    verified = Webhook(TEST_NOTIFY_SECRET).verify(body, headers)

    assert headers["webhook-id"] == "evt_1"
    assert verified == {
        "specversion": "1.0",
        "id": "evt_1",
        "source": "/simops/campaigns",
        "type": "simops.campaign.rows_ended",
        "subject": "launch-1",
        "time": "2026-03-01T12:00:00Z",
        "datacontenttype": "application/json",
        "sequence": "000000000007",
        "data": {
            "row_count": 3,
            "rows": [{"first_row": 1, "last_row": 3, "outcome": "converged", "code": None}],
        },
    }


def test_a_reason_quoting_an_iccid_is_masked() -> None:
    iccid = "8988307000012345678"
    event = phase_changed_event(
        "evt_2", "c", AT, phase="stopping", previous_phase="running", reason=f"SIM {iccid} failed"
    )

    assert iccid not in event_body(event).decode()
    assert json.loads(event_body(event))["data"]["reason"] == "SIM 898830…5678 failed"


def test_rows_added_is_defined_for_continuous_campaigns() -> None:
    event = rows_added_event("evt_3", "c", AT, first_row=11, last_row=20)

    assert event.type is CampaignEventType.ROWS_ADDED
    assert event.details == {"first_row": 11, "last_row": 20, "row_count": 10}
