"""A campaign's rows as they go: prepared (`PlannedRow`), in progress (`TrackedSim`), ended
(`RowOutcome`), and as the report and the dry run show them (`ReportRow`, `DryRunPlan`).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from simops.campaigns.spec import CampaignAction
from simops.core.sim import DesiredState, OutcomeKind, SimSnapshot, SimStatus, SimUpdate


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


class CampaignPhase(StrEnum):
    """Where a campaign stands."""

    QUEUED = "queued"
    """Waiting for a place among its account's running campaigns
    (`SIMOPS_MAX_RUNNING_CAMPAIGNS`)."""
    PREPARING = "preparing"
    RUNNING = "running"
    PAUSED = "paused"
    WAITING = "waiting"
    """Outside its schedule (before the start, between windows): first writes are held."""
    WATCHING = "watching"
    """A continuous campaign between scans, every row it has ended: it waits for the next
    scan to bring new SIMs."""
    STOPPING = "stopping"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    STOPPED = "stopped"


class OutOfServiceSummary(BaseModel):
    """How long the SIMs a campaign deactivated stayed out of service (report column
    `out_of_service_seconds`): how many, and the median, 99th percentile and longest."""

    sims: int
    p50_seconds: float
    p99_seconds: float
    max_seconds: float


PENDING = "pending"
"""The report's outcome for a row that has not ended yet."""


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


class CanarySim(BaseModel):
    """A SIM of the canary: its row, its path (`simops.campaigns.rules.path_key`), and how it
    stands: `pending` (no outcome yet, or a dry run), else its outcome, `converged` for a SIM
    that needed no write too."""

    row_no: int
    sim_sid: str | None = None
    path: str
    state: Literal["pending", "converged", "failed", "cancelled", "invalid"] = "pending"


class CanaryStatus(BaseModel):
    """The canary: the first `per_path` SIMs (by row number) of every path the plan has, run
    whole, as the campaign's first batch and alone, before any other SIM gets a write."""

    per_path: int
    sims: list[CanarySim] = Field(default_factory=list)


class DryRunPlan(PrepareResult):
    """What `--dry-run` prints: rows per planned change and per invalid reason, each with the
    first few row numbers (`changes` includes the already-converged rows).

    Its size does not grow with the campaign: `simops.campaigns.reports.RowTally` folds reasons
    beyond a few dozen into one. `notes` are what preparation found about the campaign as a whole (a
    migration's accounts).
    """

    campaign_id: str
    action: CampaignAction
    changes: list[RowSample] = Field(default_factory=list)
    invalid_reasons: list[RowSample] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    canary: CanaryStatus | None = None
    """The SIMs the canary would take (`None`: no canary)."""


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
    retry_of: str | None = None
    """The campaign whose failed rows this campaign runs again (`simops campaign retry`);
    `row_no` and `line_no` are then the row's in that campaign."""
