"""A campaign's events, as simops records them and as receivers get them (CloudEvents 1.0).

The campaign workflow and the notifier make a `CampaignEvent` (its ID, type, time and details)
as something happens; the delivery activity turns it into the body a receiver gets, the same
bytes on every attempt. Details never hold a secret, a token or a full ICCID: reasons are
masked here, whoever wrote them, and rows are named by number.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from simops.notifications.ended_rows import EndedRowRange
from simops.supersim.errors import mask_iccids

SPEC_VERSION = "1.0"
SOURCE = "/simops/campaigns"
"""The CloudEvents `source` of every event: with the event's `id`, unique."""
CONTENT_TYPE = "application/cloudevents+json"
"""A structured-mode CloudEvent (the HTTP binding's media type), JSON in UTF-8."""
DATA_CONTENT_TYPE = "application/json"


class CampaignEventType(StrEnum):
    """The `type` of every event a campaign sends."""

    STARTED = "simops.campaign.started"
    PHASE_CHANGED = "simops.campaign.phase_changed"
    CANARY_PASSED = "simops.campaign.canary_passed"
    ROWS_ENDED = "simops.campaign.rows_ended"
    ROWS_ADDED = "simops.campaign.rows_added"
    STOPPED = "simops.campaign.stopped"
    COMPLETED = "simops.campaign.completed"
    CANCELLED = "simops.campaign.cancelled"
    FAILED = "simops.campaign.failed"


FINAL_TYPES = frozenset(
    {
        CampaignEventType.STOPPED,
        CampaignEventType.COMPLETED,
        CampaignEventType.CANCELLED,
        CampaignEventType.FAILED,
    }
)
"""A campaign's last event is one of these, once."""


class CampaignEvent(BaseModel):
    """One event of one campaign, as recorded in the notifier's history (no secret in it)."""

    event_id: str
    campaign_id: str
    type: CampaignEventType
    time: datetime
    details: dict[str, Any] = Field(default_factory=dict)
    """The CloudEvent's `data`: what the event says, in JSON types."""
    sequence: int | None = None
    """Its place among the campaign's events (0 first), given by the notifier as it queues it:
    the order every receiver gets them in."""

    @property
    def is_final(self) -> bool:
        """Whether this is the campaign's last event."""
        return self.type in FINAL_TYPES


def _reason(reason: str | None) -> str | None:
    # A stop reason may quote an API message, which may quote an ICCID.
    return mask_iccids(reason) if reason is not None else None


def started_event(
    event_id: str, campaign_id: str, time: datetime, *, action: str, phase: str
) -> CampaignEvent:
    """`simops.campaign.started`: the campaign's workflow began (before preparation)."""
    return CampaignEvent(
        event_id=event_id,
        campaign_id=campaign_id,
        type=CampaignEventType.STARTED,
        time=time,
        details={"action": action, "phase": phase},
    )


def phase_changed_event(
    event_id: str,
    campaign_id: str,
    time: datetime,
    *,
    phase: str,
    previous_phase: str,
    reason: str | None,
) -> CampaignEvent:
    """`simops.campaign.phase_changed`: preparing, running, paused, waiting for a window,
    stopping (with the stop's or the cancel's reason, the moment it happens)."""
    return CampaignEvent(
        event_id=event_id,
        campaign_id=campaign_id,
        type=CampaignEventType.PHASE_CHANGED,
        time=time,
        details={"phase": phase, "previous_phase": previous_phase, "reason": _reason(reason)},
    )


def canary_passed_event(
    event_id: str, campaign_id: str, time: datetime, *, counts: Mapping[str, int]
) -> CampaignEvent:
    """`simops.campaign.canary_passed`: the canary's SIMs ended without a stop; the rest go."""
    return CampaignEvent(
        event_id=event_id,
        campaign_id=campaign_id,
        type=CampaignEventType.CANARY_PASSED,
        time=time,
        details={"counts": dict(counts)},
    )


FINAL_PHASES = {
    "completed": CampaignEventType.COMPLETED,
    "stopped": CampaignEventType.STOPPED,
    "cancelled": CampaignEventType.CANCELLED,
    "failed": CampaignEventType.FAILED,
}


def ended_event(
    event_id: str,
    campaign_id: str,
    time: datetime,
    *,
    phase: str,
    counts: Mapping[str, int],
    reason: str | None,
) -> CampaignEvent:
    """The campaign's last event, by how it ended (`phase`: completed, stopped, cancelled or
    failed), with its rows' counts and the reason."""
    return CampaignEvent(
        event_id=event_id,
        campaign_id=campaign_id,
        type=FINAL_PHASES[phase],
        time=time,
        details={"phase": phase, "counts": dict(counts), "reason": _reason(reason)},
    )


def rows_ended_event(
    event_id: str, campaign_id: str, time: datetime, ranges: Sequence[EndedRowRange]
) -> CampaignEvent:
    """`simops.campaign.rows_ended`: the rows that ended since the previous such event, as
    runs of consecutive rows of one outcome and code."""
    return CampaignEvent(
        event_id=event_id,
        campaign_id=campaign_id,
        type=CampaignEventType.ROWS_ENDED,
        time=time,
        details={
            "row_count": sum(run.row_count for run in ranges),
            "rows": [run.model_dump(mode="json") for run in ranges],
        },
    )


def rows_added_event(
    event_id: str, campaign_id: str, time: datetime, *, first_row: int, last_row: int
) -> CampaignEvent:
    """`simops.campaign.rows_added`: a continuous campaign appended rows `first_row` to
    `last_row` (validated like any row) and will converge them."""
    return CampaignEvent(
        event_id=event_id,
        campaign_id=campaign_id,
        type=CampaignEventType.ROWS_ADDED,
        time=time,
        details={
            "first_row": first_row,
            "last_row": last_row,
            "row_count": last_row - first_row + 1,
        },
    )


SEQUENCE_DIGITS = 12


def cloud_event(event: CampaignEvent) -> dict[str, Any]:
    """The event as a CloudEvents 1.0 structured-mode object, with the `sequence` extension
    (decimal, zero-padded: ordered as strings too, as that extension asks)."""
    sequence = (
        {} if event.sequence is None else {"sequence": f"{event.sequence:0{SEQUENCE_DIGITS}d}"}
    )
    return {
        "specversion": SPEC_VERSION,
        "id": event.event_id,
        "source": SOURCE,
        "type": event.type.value,
        "subject": event.campaign_id,
        "time": event.time.isoformat().replace("+00:00", "Z"),
        "datacontenttype": DATA_CONTENT_TYPE,
        **sequence,
        "data": event.details,
    }


def event_body(event: CampaignEvent) -> bytes:
    """The bytes a receiver gets (and the signature covers): compact JSON, the same for every
    attempt of an event."""
    return json.dumps(cloud_event(event), separators=(",", ":"), ensure_ascii=False).encode()
