"""Pydantic models shared by every part of simops.

API resources mirror the Super SIM wire format (snake_case JSON fields); the domain models
(`SimState`, `DesiredState`, `SimUpdate`) are what the planner, the emulator and the workflows
exchange. Every model ignores unknown fields so that a newer API or a newer simops can add
fields without breaking a running workflow.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

SID_PATTERN = re.compile(r"^(?P<prefix>[A-Z]{2})[0-9a-fA-F]{32}$")


def is_sid(value: str, prefix: str) -> bool:
    """Whether `value` is a SID with the given two-letter prefix (e.g. `HS` for a Sim)."""
    match = SID_PATTERN.match(value)
    return match is not None and match.group("prefix") == prefix


class SimStatus(StrEnum):
    """Every status a Sim resource can report."""

    NEW = "new"
    READY = "ready"
    ACTIVE = "active"
    INACTIVE = "inactive"
    SCHEDULED = "scheduled"


REQUESTABLE_STATUSES = (SimStatus.READY, SimStatus.ACTIVE, SimStatus.INACTIVE)
"""The statuses an update request may ask for (`sim_enum_status_update`)."""

ENABLED_STATUSES = (SimStatus.READY, SimStatus.ACTIVE)
"""Statuses in which a SIM can connect, and so must have a Fleet."""


class Resource(BaseModel):
    """Base of every API resource model: tolerant of fields a newer API adds."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Sim(Resource):
    """A Sim resource as the API returns it."""

    sid: str
    unique_name: str | None = None
    account_sid: str
    iccid: str | None = None
    status: SimStatus
    fleet_sid: str | None = None
    date_created: datetime | None = None
    date_updated: datetime | None = None
    url: str | None = None
    links: dict[str, str] | None = None

    def state(self) -> SimState:
        """The part of the Sim the planner reasons about."""
        return SimState(
            status=self.status,
            fleet_sid=self.fleet_sid,
            account_sid=self.account_sid,
            unique_name=self.unique_name or None,
        )


class Fleet(Resource):
    """A Fleet resource."""

    sid: str
    unique_name: str | None = None
    account_sid: str
    data_enabled: bool | None = None
    data_limit: int | None = None
    data_metering: str | None = None
    sms_commands_enabled: bool | None = None
    sms_commands_url: str | None = None
    sms_commands_method: str | None = None
    network_access_profile_sid: str | None = None
    ip_commands_url: str | None = None
    ip_commands_method: str | None = None
    date_created: datetime | None = None
    date_updated: datetime | None = None
    url: str | None = None


class NetworkAccessProfile(Resource):
    """A NetworkAccessProfile resource."""

    sid: str
    unique_name: str | None = None
    account_sid: str
    date_created: datetime | None = None
    date_updated: datetime | None = None
    url: str | None = None
    links: dict[str, str] | None = None


class BillingPeriodType(StrEnum):
    """The kind of a Sim's billing period."""

    READY = "ready"
    ACTIVE = "active"


class BillingPeriod(Resource):
    """A Sim BillingPeriod resource."""

    sid: str
    account_sid: str
    sim_sid: str
    start_time: datetime
    end_time: datetime
    period_type: BillingPeriodType
    date_created: datetime | None = None
    date_updated: datetime | None = None


class SettingsUpdateStatus(StrEnum):
    """Status of a SettingsUpdate."""

    SCHEDULED = "scheduled"
    IN_PROGRESS = "in-progress"
    SUCCESSFUL = "successful"
    FAILED = "failed"


class SettingsUpdate(Resource):
    """A SettingsUpdate resource."""

    sid: str
    iccid: str | None = None
    sim_sid: str
    status: SettingsUpdateStatus
    packages: list[Any] = Field(default_factory=list)
    date_completed: datetime | None = None
    date_created: datetime | None = None
    date_updated: datetime | None = None


class UsageRecord(Resource):
    """A UsageRecord: usage of one SIM, Fleet or account over a period."""

    account_sid: str
    sim_sid: str | None = None
    network_sid: str | None = None
    fleet_sid: str | None = None
    iso_country: str | None = None
    period: dict[str, Any] | None = None
    data_upload: int | None = None
    data_download: int | None = None
    data_total: int | None = None
    data_total_billed: float | None = None
    billed_unit: str | None = None


class SmsCommand(Resource):
    """An SmsCommand resource."""

    sid: str
    account_sid: str
    sim_sid: str
    payload: str | None = None
    status: str | None = None
    direction: str | None = None
    date_created: datetime | None = None
    date_updated: datetime | None = None
    url: str | None = None


class ApiErrorBody(Resource):
    """The Twilio-style error body every failed request carries."""

    code: int
    message: str
    more_info: str | None = None
    status: int


class CallbackMethod(StrEnum):
    """How the API delivers a completion callback."""

    POST = "POST"
    GET = "GET"


NO_FLEET = ""
"""The `Fleet` parameter value that removes a SIM's Fleet (`Fleet=` empty on the wire)."""


class SimUpdate(BaseModel):
    """One `POST /v1/Sims/{sid}` request; `None` means "parameter not sent".

    `fleet` is a Fleet SID or unique name, or `NO_FLEET` to remove the Fleet.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    status: SimStatus | None = None
    fleet: str | None = None
    account_sid: str | None = None
    unique_name: str | None = None
    callback_url: str | None = None
    callback_method: CallbackMethod | None = None

    def form(self) -> dict[str, str]:
        """The form-encoded parameters of this update, UpperCamelCase as the API names them."""
        params: dict[str, str] = {}
        if self.unique_name is not None:
            params["UniqueName"] = self.unique_name
        if self.status is not None:
            params["Status"] = self.status.value
        if self.fleet is not None:
            params["Fleet"] = self.fleet
        if self.account_sid is not None:
            params["AccountSid"] = self.account_sid
        if self.callback_url is not None:
            params["CallbackUrl"] = self.callback_url
        if self.callback_method is not None:
            params["CallbackMethod"] = self.callback_method.value
        return params

    def writes_state(self) -> bool:
        """Whether the update asks for any change of state (callback fields alone do not)."""
        return any(
            value is not None
            for value in (self.status, self.fleet, self.account_sid, self.unique_name)
        )


class SimState(BaseModel):
    """What the planner and the emulator's rules reason about: one SIM's observable state."""

    model_config = ConfigDict(frozen=True)

    status: SimStatus
    fleet_sid: str | None = None
    account_sid: str
    unique_name: str | None = None


class DesiredState(BaseModel):
    """The state an operation converges a SIM to; `None` fields are left as they are.

    `fleet_sid` is a resolved Fleet SID; `remove_fleet` asks for no Fleet at all.
    `deactivate_to_move` lets a `ready` or `active` SIM be deactivated so that it can move
    between accounts (which then needs `allow_inactive_move`, the private beta).
    """

    model_config = ConfigDict(frozen=True)

    status: SimStatus | None = None
    fleet_sid: str | None = Field(default=None, min_length=1)
    remove_fleet: bool = False
    account_sid: str | None = Field(default=None, min_length=1)
    unique_name: str | None = None
    allow_inactive_move: bool = False
    deactivate_to_move: bool = False

    @model_validator(mode="after")
    def _check_consistent(self) -> DesiredState:
        if self.fleet_sid is not None and self.remove_fleet:
            raise ValueError("a desired state cannot both set and remove the Fleet")
        if self.status is not None and self.status not in REQUESTABLE_STATUSES:
            raise ValueError(
                f"desired status must be one of ready, active, inactive, not {self.status}"
            )
        return self

    def is_empty(self) -> bool:
        """Whether the desired state asks for nothing."""
        return (
            self.status is None
            and self.fleet_sid is None
            and not self.remove_fleet
            and self.account_sid is None
            and self.unique_name is None
        )


class OutcomeKind(StrEnum):
    """How an operation on one SIM ended."""

    CONVERGED = "converged"
    ALREADY_CONVERGED = "already_converged"
    FAILED = "failed"
    INVALID = "invalid"
    CANCELLED = "cancelled"


class PlanKind(StrEnum):
    """What the planner says to do next."""

    CALL = "call"
    WAIT = "wait"
    DONE = "done"
    IMPOSSIBLE = "impossible"


class PlanStep(BaseModel):
    """The planner's answer: the next API call, wait for `scheduled`, done, or impossible."""

    model_config = ConfigDict(frozen=True)

    kind: PlanKind
    update: SimUpdate | None = None
    is_async: bool = False
    code: int | None = None
    reason: str | None = None


OperationName = Literal[
    "activate", "ready", "deactivate", "reactivate", "set-fleet", "rename", "move", "converge"
]


class SimLike(Protocol):
    """What a snapshot is taken of: a Sim resource (`simops.supersim.resources.Sim`), which the
    domain does not import."""

    @property
    def sid(self) -> str: ...
    @property
    def status(self) -> SimStatus: ...
    @property
    def fleet_sid(self) -> str | None: ...
    @property
    def account_sid(self) -> str: ...
    @property
    def unique_name(self) -> str | None: ...


class SimSnapshot(BaseModel):
    """A SIM as a workflow may hold it: its SID and state, never its ICCID."""

    model_config = ConfigDict(frozen=True)

    sid: str
    status: SimStatus
    fleet_sid: str | None = None
    account_sid: str
    unique_name: str | None = None

    @classmethod
    def of(cls, sim: SimLike) -> SimSnapshot:
        """The snapshot of an API Sim resource."""
        return cls(
            sid=sim.sid,
            status=sim.status,
            fleet_sid=sim.fleet_sid,
            account_sid=sim.account_sid,
            unique_name=sim.unique_name or None,
        )

    def state(self) -> SimState:
        """The part of the snapshot the planner reasons about."""
        return SimState(
            status=self.status,
            fleet_sid=self.fleet_sid,
            account_sid=self.account_sid,
            unique_name=self.unique_name,
        )


class SimOperationRequest(BaseModel):
    """Input of the SIM operation workflow: one SIM and the state it must reach.

    `fleet` is a Fleet SID or unique name, resolved by the workflow in the account the SIM will
    belong to. `from_statuses`, when set, are the statuses the operation applies to (a
    reactivation to `inactive` SIMs, say); a SIM found in another one that is not already
    converged fails with the reason. Deadlines are in seconds so the request stays plain JSON.
    """

    sim_sid: str
    operation: OperationName = "converge"
    status: SimStatus | None = None
    fleet: str | None = None
    remove_fleet: bool = False
    account_sid: str | None = None
    unique_name: str | None = None
    allow_inactive_move: bool = False
    from_statuses: list[SimStatus] | None = None
    callback_wait_seconds: float = Field(default=120.0, gt=0)
    deadline_seconds: float = Field(default=86_400.0, gt=0)


class SimOperationOutcome(BaseModel):
    """Output of the SIM operation workflow: how it ended, with the SIM before and after."""

    sim_sid: str
    operation: OperationName
    outcome: OutcomeKind
    code: int | None = None
    reason: str | None = None
    before: SimSnapshot | None = None
    after: SimSnapshot | None = None
    writes: int = 0
    started_at: datetime
    finished_at: datetime


class SimCallback(BaseModel):
    """A provider callback as the ingress signals it: a hint that a SIM's update completed."""

    sim_sid: str
    sim_status: SimStatus
    account_sid: str | None = None
    sim_unique_name: str | None = None
    idempotency_token: str | None = None


class SimCallbackBatch(BaseModel):
    """The callbacks the ingress received for one workflow within a short window, in one signal.

    A campaign batch waits for hundreds of callbacks: one signal per SIM would flood its history.
    """

    callbacks: list[SimCallback]


class OperationProgress(BaseModel):
    """What the `progress` query of a SIM operation answers."""

    sim_sid: str
    operation: OperationName
    step: str
    state: str
    observed: SimSnapshot | None = None
    writes: int = 0
    callbacks_received: int = 0


class FleetLookup(BaseModel):
    """Input of the fleet-resolving activity: a Fleet SID or unique name in an account."""

    reference: str
    account_sid: str


class FleetResolution(BaseModel):
    """Output of the fleet-resolving activity: the Fleet's SID, or why there is none."""

    fleet_sid: str | None = None
    code: int | None = None
    reason: str | None = None


class SimFetchRequest(BaseModel):
    """Input of the activities that read one SIM."""

    sim_sid: str


class ApplyUpdateRequest(BaseModel):
    """Input of the update activity; the activity adds the signed callback URL itself.

    `expected` is the SIM as the update was planned from: a retry finding the SIM otherwise
    (an earlier attempt took effect) writes nothing and returns what it read.
    """

    sim_sid: str
    update: SimUpdate
    callback_workflow_id: str | None = None
    expected: SimSnapshot | None = None


class ApplyUpdateResult(BaseModel):
    """Output of the update activity: the SIM as the API answered, or the rule it broke."""

    observed: SimSnapshot | None = None
    accepted_async: bool = False
    callback_requested: bool = False
    code: int | None = None
    reason: str | None = None


class CampaignAction(StrEnum):
    """What a campaign does to every SIM in it."""

    ACTIVATE = "activate"
    READY = "ready"
    DEACTIVATE = "deactivate"
    REACTIVATE = "reactivate"
    SET_FLEET = "set-fleet"
    RENAME = "rename"
    MOVE = "move"
    ROLLBACK = "rollback"


MIGRATION_ACTIONS = frozenset({CampaignAction.MOVE, CampaignAction.ROLLBACK})
"""The actions of account migrations (`simops migrate`): a move, and the undoing of one."""


class CampaignSource(BaseModel):
    """Where a campaign's SIMs come from: a file copied into the campaign store, a filter, or
    the rows of an earlier migration (`rollback_of`, whose changes a rollback undoes).

    `account_sid` keeps only the SIMs of one account (the parent's listing shows its children's
    SIMs too); `fleet` is then resolved in that account. `file_sha256` is the digest of the
    file's content: two files of one name are two sources.
    """

    file_name: str | None = None
    file_sha256: str | None = None
    status: SimStatus | None = None
    fleet: str | None = None
    account_sid: str | None = None
    rollback_of: str | None = None

    @model_validator(mode="after")
    def _check_one_source(self) -> CampaignSource:
        filtered = self.status is not None or self.fleet is not None or self.account_sid is not None
        given = [self.file_name is not None, filtered, self.rollback_of is not None]
        if not any(given):
            raise ValueError("a campaign needs a file or a filter (status and/or fleet)")
        if sum(given) > 1:
            raise ValueError(
                "a campaign reads either a file, a filter or an earlier migration, not several"
            )
        return self


class MigrationSpec(BaseModel):
    """What an account migration does besides moving: Fleets, statuses and the private beta.

    `fleet_map` maps a Fleet of the SIMs' accounts (SID or unique name) to a Fleet of the
    destination (SID or unique name, or `NO_FLEET` for none); `default_fleet` or `no_fleet`
    takes the Fleets the map does not name. `deactivate_first` deactivates `ready` and `active`
    SIMs so that they can move, and `reactivate` brings them back `active` afterwards.
    """

    to_account: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$")
    fleet_map: dict[str, str] = Field(default_factory=dict)
    default_fleet: str | None = Field(default=None, min_length=1)
    no_fleet: bool = False
    allow_inactive_move: bool = False
    deactivate_first: bool = False
    reactivate: bool = False

    @model_validator(mode="after")
    def _check_consistent(self) -> MigrationSpec:
        if self.default_fleet is not None and self.no_fleet:
            raise ValueError("a migration takes either a default Fleet or no Fleet, not both")
        if self.reactivate and not self.deactivate_first:
            raise ValueError("reactivate applies to the SIMs deactivate_first deactivated")
        return self


class CampaignSpec(BaseModel):
    """Everything a campaign needs to know, fixed when it starts."""

    campaign_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    action: CampaignAction
    source: CampaignSource
    fleet: str | None = None
    rate: float | None = Field(default=None, gt=0)
    concurrency: int = Field(default=200, ge=1)
    max_failures: int | None = Field(default=None, ge=0)
    max_failure_ratio: float | None = Field(default=None, ge=0, le=1)
    canary: int = Field(default=0, ge=0)
    batch_size: int = Field(default=1000, ge=1, le=1000)
    batches_per_run: int = Field(default=200, ge=1)
    callback_wait_seconds: float = Field(default=120.0, gt=0)
    deadline_seconds: float = Field(default=86_400.0, gt=0)
    migration: MigrationSpec | None = None
    compensate: bool = True
    """Put back what a SIM's failed multi-step path changed (a deactivated SIM reactivated)."""
    min_ended_for_ratio: int = Field(default=100, ge=1)
    """A `max_failure_ratio` is judged once this many SIMs ended (AWS IoT Jobs'
    `minNumberOfExecutedThings`), or every SIM did, so that the first failure of a campaign is
    not 100%."""

    @model_validator(mode="after")
    def _check_migration(self) -> CampaignSpec:
        if (self.action is CampaignAction.MOVE) != (self.migration is not None):
            raise ValueError("a move campaign needs a migration, and only a move has one")
        if (self.action is CampaignAction.ROLLBACK) != (self.source.rollback_of is not None):
            raise ValueError("a rollback reads an earlier migration, and only a rollback does")
        return self


class BillingPeriodReading(BaseModel):
    """A SIM's current billing period as read before it moved (`start_time` None: it had none).

    `is_open` when the period had not ended: the usage since its start counts against the data
    limit of the SIM's new Fleet.
    """

    model_config = ConfigDict(frozen=True)

    start_time: datetime | None = None
    end_time: datetime | None = None
    is_open: bool = False


class PlannedRow(BaseModel):
    """One input row as a batch works on it: the SIM, where it must go, and how it was found."""

    row_no: int
    sim_sid: str | None = None
    desired: DesiredState | None = None
    from_statuses: list[SimStatus] | None = None
    before: SimSnapshot | None = None
    invalid_code: int | None = None
    invalid_reason: str | None = None
    note: str | None = None


class RowOutcome(BaseModel):
    """How one input row ended: what the report prints for it."""

    row_no: int
    sim_sid: str | None = None
    outcome: OutcomeKind
    code: int | None = None
    message: str | None = None
    before: SimSnapshot | None = None
    after: SimSnapshot | None = None
    attempts: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    warning: str | None = None
    writes: int = 0
    restored: bool | None = None
    out_of_service_seconds: float | None = None


class TrackedSim(BaseModel):
    """A SIM a campaign batch is still converging: where it must go and what was last seen."""

    row_no: int
    sim_sid: str
    desired: DesiredState
    from_statuses: list[SimStatus] | None = None
    before: SimSnapshot | None = None
    observed: SimSnapshot | None = None
    attempts: int = 0
    writes: int = 0
    started_at: datetime | None = None
    note: str | None = None
    billing_period: BillingPeriodReading | None = None
    pending_write: SimUpdate | None = None
    """A write recorded before its request and not yet known to have been answered: after a
    crash, the SIM is read and compared with `observed` (what the write was planned from)."""
    restore: DesiredState | None = None
    """Set when the SIM's path failed after a write that left it less in service than before:
    where compensation takes it back (and `failure_*` say why the path failed)."""
    failure_code: int | None = None
    failure_message: str | None = None
    out_of_service_since: datetime | None = None
    """When this campaign deactivated the SIM, until it is seen enabled again."""
    out_of_service_seconds: float | None = None
    scheduled_since: datetime | None = None
    """When a write of this campaign left the SIM `scheduled`, until it is read settled."""


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


class BatchStepResult(BaseModel):
    """Output of the batch activities: SIDs still in progress and counts of the rows that ended."""

    pending_sims: list[str] = Field(default_factory=list)
    ended: dict[OutcomeKind, int] = Field(default_factory=dict)
    stop_reason: str | None = None
    """Why the campaign stopped new first writes, when it has (seen by this activity)."""


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


class CampaignCounts(BaseModel):
    """Outcome counts of a campaign's rows, from its store."""

    counts: dict[str, int] = Field(default_factory=dict)


class CampaignPhase(StrEnum):
    """Where a campaign stands."""

    PREPARING = "preparing"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    STOPPED = "stopped"


class CampaignState(BaseModel):
    """What a campaign carries from one run to the next across continue-as-new."""

    started_at: datetime | None = None
    total_rows: int | None = None
    next_row: int = 1
    next_batch_no: int = 1
    canary_done: bool = False
    paused: bool = False
    cancel_reason: str | None = None
    stop_reason: str | None = None
    counts: dict[OutcomeKind, int] = Field(default_factory=dict)


class CampaignRunInput(BaseModel):
    """Input of the campaign workflow: the spec, and the state when continued as new."""

    spec: CampaignSpec
    state: CampaignState | None = None


class OutOfServiceSummary(BaseModel):
    """How long the SIMs a campaign deactivated stayed out of service (report column
    `out_of_service_seconds`): how many, and the median, 99th percentile and longest."""

    sims: int
    p50_seconds: float
    p99_seconds: float
    max_seconds: float


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


class CampaignResult(BaseModel):
    """Output of the campaign workflow: how every row ended."""

    campaign_id: str
    phase: CampaignPhase
    counts: dict[str, int] = Field(default_factory=dict)
    stop_reason: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


PENDING = "pending"
"""The report's outcome for a row that has not ended yet."""


class PrepareRequest(BaseModel):
    """Input of the campaign-preparing activity: the campaign whose store it prepares."""

    campaign_id: str


class PrepareResult(BaseModel):
    """Output of the campaign-preparing activity: counts only, never a reference or ICCID.

    `planned_changes` counts the valid rows that need a change, by the change they need
    (`new → active, fleet none → iot-eu (HF…)`); `already_converged` rows need none.
    `invalid_by_code` counts the invalid rows by error code (as a string, for JSON).
    """

    rows: int
    valid: int
    invalid: int
    already_converged: int
    planned_changes: dict[str, int] = Field(default_factory=dict)
    invalid_by_code: dict[str, int] = Field(default_factory=dict)


class RowSample(BaseModel):
    """Rows that share a planned change or an invalid reason: how many, and the first few."""

    label: str
    code: int | None = None
    count: int = 0
    first_rows: list[int] = Field(default_factory=list)


class DryRunPlan(PrepareResult):
    """What `--dry-run` prints: rows per planned change and per invalid reason, each with the
    first few row numbers (`changes` includes the already-converged rows).

    Its size does not grow with the campaign: `simops.reports.RowTally` folds reasons beyond a
    few dozen into one. `notes` are what preparation found about the campaign as a whole (a
    migration's accounts).
    """

    campaign_id: str
    action: CampaignAction
    changes: list[RowSample] = Field(default_factory=list)
    invalid_reasons: list[RowSample] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class ReportRow(BaseModel):
    """One input row of a campaign report: how it ended (or `pending`), before and after."""

    row_no: int
    line_no: int | None = None
    reference: str
    sim_sid: str | None = None
    outcome: OutcomeKind | Literal["pending"]
    code: int | None = None
    message: str | None = None
    before_status: SimStatus | None = None
    before_fleet: str | None = None
    after_status: SimStatus | None = None
    after_fleet: str | None = None
    attempts: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    before_account: str | None = None
    after_account: str | None = None
    billing_period_start: datetime | None = None
    billing_period_end: datetime | None = None
    warning: str | None = None
    writes: int = 0
    restored: bool | None = None
    out_of_service_seconds: float | None = None
