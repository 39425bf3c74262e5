"""The payloads of workflows, activities, signals and queries: one pydantic model in and one out of
each. Fields are only ever added (never renamed) while workflows may be running.

One SIM's operation and the callbacks have theirs in `simops.sim_messages`, which needs none of
the campaign modules these import.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from simops.campaigns.rows import CampaignPhase, CanaryStatus, OutOfServiceSummary
from simops.campaigns.spec import CampaignAction, CampaignSpec
from simops.core.sim import OutcomeKind
from simops.notifications.ended_rows import EndedRowRange
from simops.notifications.events import CampaignEvent


class BatchInput(BaseModel):
    """Input of a campaign batch workflow: a range of input rows and how to pace them."""

    campaign_id: str
    batch_no: int
    first_row: int
    row_count: int
    callback_wait_seconds: float = Field(default=120.0, gt=0)
    deadline_seconds: float = Field(default=86_400.0, gt=0)
    step_timeout_seconds: float | None = Field(default=None, gt=0)
    """The time limit of one batch activity attempt, sized by the campaign to its rate."""
    row_nos: list[int] | None = None
    """Only these rows of the range (the canary's); `None`: every row of the range."""


class BatchStepRequest(BaseModel):
    """Input of the batch activities: start a row range, or settle its SIMs still in progress.

    What is known of each SIM in progress lives in the campaign store, not here: the batch's
    history then grows by a few bytes per SIM, not by a snapshot of every SIM each round.
    """

    campaign_id: str
    callback_workflow_id: str
    first_row: int
    row_count: int
    final: bool = False
    sim_sids: list[str] | None = None
    """Settle only these SIMs (those that called back); `None`: every SIM in progress."""
    campaign_workflow_id: str | None = None
    """The campaign's workflow, told at once when an activity finds that the campaign stopped."""
    row_nos: list[int] | None = None
    """Only these rows of the range (the canary's); `None`: every row of the range."""


class BatchStepResult(BaseModel):
    """Output of the batch activities: SIDs still in progress and counts of the rows that ended."""

    pending_sims: list[str] = Field(default_factory=list)
    ended: dict[OutcomeKind, int] = Field(default_factory=dict)
    stop_reason: str | None = None
    """Why the campaign stopped new first writes, when it has (seen by this activity)."""
    read_again_sims: list[str] = Field(default_factory=list)
    """Of `pending_sims`, those a transient error left unseen: no callback may come for them."""
    held_sims: list[str] = Field(default_factory=list)
    """Of `pending_sims`, those not started because the campaign is on hold: no callback comes
    for them; they go once the hold ends (the batch is told) or end at a stop."""


class BatchSummary(BaseModel):
    """Output of a campaign batch workflow: how many of its rows ended how."""

    batch_no: int
    counts: dict[OutcomeKind, int] = Field(default_factory=dict)
    stop_reason: str | None = None


class CampaignRowsRequest(BaseModel):
    """Input of the campaign bookkeeping activities (cancel the rest, count outcomes)."""

    campaign_id: str
    first_row: int = 1
    reason: str | None = None
    row_count: int | None = None
    """With `first_row`, the range a request is about (`None`: every row from `first_row`)."""
    row_nos: list[int] | None = None
    """Only these rows of the range (the canary's); `None`: every row of the range."""


class CanaryRows(BaseModel):
    """The canary's rows, in order: the first SIMs of every path (see `CanaryStatus`)."""

    row_nos: list[int] = Field(default_factory=list)


class CampaignSlotRequest(BaseModel):
    """Input of the activities that queue a campaign on its account and free its place."""

    campaign_id: str
    started_at: datetime | None = None
    """When the campaign's workflow started: its place in its account's queue (`None`: a
    campaign started before, which queues at the time of its claim)."""


class CampaignSlot(BaseModel):
    """Whether a campaign may run now under `SIMOPS_MAX_RUNNING_CAMPAIGNS`; if not, how many
    queued campaigns of its account are ahead of it."""

    running: bool
    ahead: int = 0
    account: str | None = None


class CampaignStopNotice(BaseModel):
    """Signal to a campaign: its batch activities found a reason to stop new first writes."""

    reason: str


class CampaignCounts(BaseModel):
    """Outcome counts of a campaign's rows, from its store."""

    counts: dict[str, int] = Field(default_factory=dict)


class CampaignState(BaseModel):
    """What a campaign carries from one run to the next across continue-as-new."""

    started_at: datetime | None = None
    total_rows: int | None = None
    next_row: int = 1
    next_batch_no: int = 1
    canary_done: bool = False
    canary_rows: list[int] | None = None
    """The canary's rows, once read from the store (`None`: not read, or a campaign started
    before the canary took every path, whose canary is its first rows)."""
    paused: bool = False
    cancel_reason: str | None = None
    stop_reason: str | None = None
    counts: dict[OutcomeKind, int] = Field(default_factory=dict)
    hold_reason: str | None = None
    """Why first writes are held (recorded in the store): paused, outside the windows."""
    ramp_limit: int | None = None
    """The ramp's current limit on SIMs started and not ended (`None`: not started yet)."""
    ramp_converged: int = 0
    """SIMs that converged since the ramp's limit was last raised."""
    ramp_done: bool = False
    """The ramp reached the campaign's concurrency: no limit beyond it any more."""
    slot_claimed: bool = False
    """The campaign holds a place among its account's running campaigns (to free at the end)."""
    notify_targets: list[str] | None = None
    """The webhook receivers of the campaign's events (`None`: a campaign started before
    webhooks, which sends none; empty: no receiver)."""
    notified_phase: CampaignPhase | None = None
    """The phase the last event told receivers of."""
    scans: int = 0
    """A continuous campaign's scans so far (preparation's listing not counted)."""
    rows_added: int = 0
    """The rows its scans appended."""
    last_scan_at: datetime | None = None
    next_scan_at: datetime | None = None
    """When the next scan is due (`None`: a campaign that is not continuous, or not prepared)."""


class ScanProgress(BaseModel):
    """A continuous campaign's scans: how often, how many so far, the rows they appended, and
    when the last ended and the next is due (`None`: none yet / none to come)."""

    every_seconds: float
    scans: int = 0
    rows_added: int = 0
    last_scan_at: datetime | None = None
    next_scan_at: datetime | None = None


class CampaignRunInput(BaseModel):
    """Input of the campaign workflow: the spec, and the state when continued as new."""

    spec: CampaignSpec
    state: CampaignState | None = None


class AccountShare(BaseModel):
    """A campaign's share of its account's API budget, as every process divides it now."""

    account: str
    weight: float
    rate: float
    """Requests per second the campaign may send now (every process together)."""
    concurrency: int
    account_rate: float | None = None
    """The account's budget (`None`: it has none; the campaign keeps to its own `--rate`)."""
    account_concurrency: int | None = None


class WebhookDelivery(BaseModel):
    """How one receiver's webhooks went: what `status -o json` and the dashboard show."""

    url: str
    """The receiver, without user, password, query or fragment."""
    events_sent: int = 0
    """Events the receiver answered 2xx to."""
    events_failed: int = 0
    """Events given up on: no 2xx within 24 hours of the event."""
    events_queued: int = 0
    """Events waiting for their turn, the one in delivery included."""
    attempts: int = 0
    """Attempts of every event (the one in delivery included, when the status reads it)."""
    last_status: int | None = None
    """The last answer's HTTP status."""
    last_error: str | None = None
    """Why the last failed attempt failed (cleared by a success)."""
    last_event_id: str | None = None
    last_event_type: str | None = None
    last_attempt_at: datetime | None = None


class CampaignProgress(BaseModel):
    """What `simops campaign status` shows, in every phase: counts, rate and time left, and
    once ended, when and how long SIMs were out of service."""

    campaign_id: str
    action: CampaignAction
    phase: CampaignPhase
    total_rows: int | None = None
    ended_rows: int = 0
    counts: dict[str, int] = Field(default_factory=dict)
    batches_in_flight: int = 0
    rows_per_second: float | None = None
    eta_seconds: float | None = None
    started_at: datetime | None = None
    stop_reason: str | None = None
    finished_at: datetime | None = None
    out_of_service: OutOfServiceSummary | None = None
    ramp_limit: int | None = None
    """While a ramp runs: how many SIMs may be past their first write and not yet ended."""
    canary: CanaryStatus | None = None
    """The canary's SIMs and how each stands (`None`: no canary)."""
    retry_of: str | None = None
    """The campaign whose failed rows this one runs again (`simops campaign retry`)."""
    next_window_at: datetime | None = None
    """While the campaign waits for its schedule: when first writes may next happen (UTC)."""
    queued_behind: int | None = None
    """While the campaign is queued (`SIMOPS_MAX_RUNNING_CAMPAIGNS`): how many queued campaigns
    of its account start before it."""
    share: AccountShare | None = None
    """The campaign's current share of its account's API budget (filled in from the store by
    whoever reads the progress; `None`: it draws nothing now)."""
    deliveries: list[WebhookDelivery] | None = None
    """Its webhooks, per receiver (`None`: it sends none)."""
    continuous: ScanProgress | None = None
    """A continuous campaign's scans (`None`: not continuous)."""


class CampaignResult(BaseModel):
    """Output of the campaign workflow: how every row ended."""

    campaign_id: str
    phase: CampaignPhase
    counts: dict[str, int] = Field(default_factory=dict)
    stop_reason: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    continuous: ScanProgress | None = None
    """A continuous campaign's scans, as they stood at its end."""


class PrepareRequest(BaseModel):
    """Input of the campaign-preparing activity: the campaign whose store it prepares."""

    campaign_id: str


class NotifyTargetsRequest(BaseModel):
    """Input of the activity that names a campaign's webhook receivers."""

    campaign_id: str
    campaign_urls: list[str] = Field(default_factory=list)


class NotifyTargets(BaseModel):
    """A campaign's webhook receivers: its own, then every campaign's (the worker's settings)."""

    urls: list[str] = Field(default_factory=list)


class NotifierInput(BaseModel):
    """Input of a campaign's notifier workflow, and what it carries across continue-as-new."""

    campaign_id: str
    targets: list[str]
    first_sequence: int = 0
    """The number of `events[0]` among the campaign's events."""
    events: list[CampaignEvent] = Field(default_factory=list)
    """Events not yet delivered to every receiver, in order."""
    next_sequences: list[int] = Field(default_factory=list)
    """Per receiver (in `targets` order): the number of the next event to deliver."""
    deliveries: list[WebhookDelivery] = Field(default_factory=list)
    rows_collections: int = 0
    """How many `rows_ended` collections were made (the store's cursor checks it)."""
    last_rows_event_at: datetime | None = None
    campaign_ended: bool = False


class DeliveryRequest(BaseModel):
    """Input of the delivery activity: one event to one receiver."""

    url: str
    event: CampaignEvent


class DeliveryResult(BaseModel):
    """Output of the delivery activity: the receiver's 2xx, on which attempt."""

    status: int
    attempt: int


class EndedRowsRequest(BaseModel):
    """Input of the activity that collects the rows ended since the last `rows_ended` event."""

    campaign_id: str
    collection: int
    """This collection's number (1 for the first): a retry of it returns the same rows."""


class EndedRowsResult(BaseModel):
    """The runs of rows that ended since the previous collection (empty: none)."""

    ranges: list[EndedRowRange] = Field(default_factory=list)
