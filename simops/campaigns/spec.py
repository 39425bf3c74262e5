"""What a campaign is asked to do, fixed when it starts: its action, its source (a file, an API
filter or an earlier migration), its controls, its schedule and, for a migration, the
destination, the Fleet map and the flags.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field, field_validator, model_validator

from simops.campaigns.schedule import CampaignSchedule
from simops.core.sim import OutcomeKind, SimStatus
from simops.runtime.webhook_rules import webhook_url_problem


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
    """Where a campaign's SIMs come from: a file copied into the campaign store, a filter, the
    rows of an earlier migration (`rollback_of`, whose changes a rollback undoes), or the rows
    of an earlier campaign that ended `failed` (`retry_of`; only those whose error code is one
    of `retry_codes` when there are any; with `retry_cancelled`, those that ended `cancelled`
    too), each keeping its row number and file line.

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
    retry_of: str | None = None
    retry_codes: list[int] = Field(default_factory=list)
    retry_cancelled: bool = False

    @model_validator(mode="after")
    def _check_one_source(self) -> CampaignSource:
        filtered = self.status is not None or self.fleet is not None or self.account_sid is not None
        given = [
            self.file_name is not None,
            filtered,
            self.rollback_of is not None,
            self.retry_of is not None,
        ]
        if not any(given):
            raise ValueError("a campaign needs a file or a filter (status and/or fleet)")
        if sum(given) > 1:
            raise ValueError(
                "a campaign reads either a file, a filter or an earlier campaign, not several"
            )
        if self.retry_of is None and (self.retry_codes or self.retry_cancelled):
            raise ValueError("retry_codes and retry_cancelled choose the rows of a retry_of")
        return self

    @property
    def retried_outcomes(self) -> tuple[OutcomeKind, ...]:
        """The outcomes of the rows a retry runs again: `failed`, and `cancelled` if asked."""
        if self.retry_cancelled:
            return (OutcomeKind.FAILED, OutcomeKind.CANCELLED)
        return (OutcomeKind.FAILED,)


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


class Ramp(BaseModel):
    """`--ramp BASE[,FACTOR]`: at most `base` SIMs may be past their first write and not yet
    ended; each time that many ended `converged`, the limit is multiplied by `factor`, up to the
    campaign's concurrency (then the ramp is over). Failures never raise it, so a systemic error
    met at a SIM's second step reaches at most the SIMs of the current wave (AWS IoT Jobs'
    `exponentialRate`, gated by success rather than by time)."""

    base: int = Field(ge=1)
    factor: float = Field(default=2.0, ge=1.0)


CONTINUOUS_ACTIONS = frozenset(
    {CampaignAction.ACTIVATE, CampaignAction.READY, CampaignAction.SET_FLEET}
)
"""The actions a continuous campaign may take: those that bring SIMs arriving in a filter into
service or into a Fleet (docs/decisions.md says why not the others)."""
MIN_SCAN_EVERY_SECONDS = 10.0
"""The shortest pause between two scans of a continuous campaign: each scan lists the filter
from the API, and a tighter loop would spend the account's budget on listings."""


class Continuous(BaseModel):
    """`--continuous`: the campaign never runs out of rows. Every `every_seconds` (after the
    previous scan ended) it lists its filter again and appends the SIMs that match and are not
    yet its rows; it runs until cancelled or its schedule's end."""

    every_seconds: float = Field(default=300.0, ge=MIN_SCAN_EVERY_SECONDS)


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
    ramp: Ramp | None = None
    """Ramp-up after the canary; `None`: every batch may start at once (within the window)."""
    min_ended_for_ratio: int = Field(default=100, ge=1)
    """A `max_failure_ratio` is judged once this many SIMs ended (AWS IoT Jobs'
    `minNumberOfExecutedThings`), or every SIM did, so that the first failure of a campaign is
    not 100%."""
    schedule: CampaignSchedule | None = None
    """When SIMs may get their first write (start, end, windows); `None`: at once, until done."""
    weight: float = Field(default=1.0, gt=0, le=1000)
    """`--weight`: the campaign's share of its account's API budget, in proportion to the
    weights of the account's other running campaigns."""
    notify_urls: list[str] = Field(default_factory=list)
    """Webhook receivers of this campaign's events (`--notify`), besides `SIMOPS_NOTIFY_URLS`
    (docs/integrations.md)."""

    continuous: Continuous | None = None
    """A continuous campaign's scans (`None`: the campaign ends once its rows did)."""

    @field_validator("notify_urls")
    @classmethod
    def _check_notify_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            problem = webhook_url_problem(url)
            if problem is not None:
                raise ValueError(problem)
        # Once each, in the order given: a receiver named twice gets each event once.
        return list(dict.fromkeys(urls))

    @model_validator(mode="after")
    def _check_migration(self) -> CampaignSpec:
        if (self.action is CampaignAction.MOVE) != (self.migration is not None):
            raise ValueError("a move campaign needs a migration, and only a move has one")
        if self.source.rollback_of is not None and self.action is not CampaignAction.ROLLBACK:
            raise ValueError("only a rollback reads an earlier migration")
        # A retry of a rollback is a rollback too: the rows it copies say where SIMs go back to.
        copies = self.source.rollback_of is not None or self.source.retry_of is not None
        if self.action is CampaignAction.ROLLBACK and not copies:
            raise ValueError("a rollback reads an earlier migration (or retries a rollback)")
        if self.continuous is not None:
            if self.source.file_name is not None or copies:
                raise ValueError("a continuous campaign reads a filter (status and/or fleet)")
            if self.action not in CONTINUOUS_ACTIONS:
                allowed = ", ".join(sorted(action.value for action in CONTINUOUS_ACTIONS))
                raise ValueError(f"a continuous campaign's action is one of {allowed}")
        return self
