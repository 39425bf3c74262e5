"""What the API takes and answers, as pydantic models: the OpenAPI document is generated from
them, and the campaign spec is the CLI's own `CampaignSpec`."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from simops.campaigns.spec import MIGRATION_ACTIONS, CampaignAction, CampaignSpec
from simops.clients.campaigns import CampaignControl
from simops.messages import CampaignProgress

ErrorCode = Annotated[int, Field(ge=0, le=999_999)]
"""An API error code (five digits, as 20404 or 83010): what a store's integer column holds."""
INLINE_FILE_NAME = "rows.csv"
"""The file name inline rows are stored under when the spec's source names none."""
MAX_INLINE_ROWS = 1_000_000


class CampaignKind(StrEnum):
    """The two collections of the API: campaigns (`simops campaign`) and account migrations
    (`simops migrate`). Both are campaigns underneath, under the same IDs."""

    CAMPAIGNS = "campaigns"
    MIGRATIONS = "migrations"

    @property
    def noun(self) -> str:
        """What one of the collection is called in messages."""
        return "migration" if self is CampaignKind.MIGRATIONS else "campaign"

    @property
    def other(self) -> CampaignKind:
        """The other collection."""
        if self is CampaignKind.MIGRATIONS:
            return CampaignKind.CAMPAIGNS
        return CampaignKind.MIGRATIONS

    def holds(self, action: CampaignAction) -> bool:
        """Whether a campaign of `action` belongs to this collection."""
        return (action in MIGRATION_ACTIONS) == (self is CampaignKind.MIGRATIONS)


class SourceRow(BaseModel):
    """One row given inline: a SIM (SID, unique name or ICCID), and optionally the Fleet to
    assign it and its new unique name, as the columns of a campaign file."""

    model_config = ConfigDict(extra="forbid")

    sim: str = Field(min_length=1, max_length=256)
    fleet: str | None = Field(default=None, max_length=256)
    unique_name: str | None = Field(default=None, max_length=256)


class CampaignStartRequest(BaseModel):
    """`POST /api/v1/campaigns` (or `/migrations`) as JSON: the spec, and its rows inline when
    its source is a file (without a `source`, the rows are the source)."""

    model_config = ConfigDict(extra="forbid")

    spec: CampaignSpec
    rows: list[SourceRow] | None = Field(default=None, min_length=1, max_length=MAX_INLINE_ROWS)

    @model_validator(mode="before")
    @classmethod
    def _rows_are_the_source(cls, value: Any) -> Any:
        # Inline rows need no `source`: they are it, under a file name of their own.
        if isinstance(value, dict) and value.get("rows") and isinstance(value.get("spec"), dict):
            spec = value["spec"]
            if "source" not in spec:
                value = {**value, "spec": {**spec, "source": {"file_name": INLINE_FILE_NAME}}}
        return value


class StartedCampaign(BaseModel):
    """A campaign started (`created`), or found already started with the very same spec."""

    campaign_id: str
    action: CampaignAction
    created: bool
    """`false`: this ID was started before with the same spec; nothing new was started."""
    url: str
    """Where its state is: `GET` it."""


class CampaignState(BaseModel):
    """One campaign: its progress (the JSON of `simops campaign status -o json`) and the phase
    to show, which is how its workflow ended when it ended without a result (`terminated`…),
    or `unanswered` when no worker answered its progress query."""

    campaign_id: str
    phase: str
    running: bool
    note: str | None = None
    progress: CampaignProgress


class ListedCampaign(BaseModel):
    """A campaign as the list shows it: what Temporal says of its latest run."""

    campaign_id: str
    action: CampaignAction | None
    """`null` when this machine has no store of the campaign."""
    status: str
    """Its workflow's status: `running`, `completed`, `terminated`…"""
    started_at: datetime | None
    closed_at: datetime | None
    url: str


class CampaignList(BaseModel):
    """Every campaign (or migration), newest first."""

    campaigns: list[ListedCampaign]


class CancelRequest(BaseModel):
    """`POST …/cancel`'s optional body: why, printed in the report."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="cancelled through the API", min_length=1, max_length=1000)


class ControlSent(BaseModel):
    """A signal sent to a running campaign: it acts on it within a batch's time."""

    campaign_id: str
    control: CampaignControl


class RetryRequest(BaseModel):
    """`POST …/retry`'s optional body, as `simops campaign retry`'s options."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    """The retry's ID (default: ID-retry-1, then -2, …)."""
    only_codes: list[ErrorCode] = Field(default_factory=list, max_length=100)
    """Only failed rows with one of these error codes."""
    include_cancelled: bool = False
    """Rows that ended cancelled too."""
