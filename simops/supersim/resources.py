"""The Super SIM API's resources as it returns them (snake_case JSON fields), tolerant of fields a
newer API adds.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from simops.core.sim import SimState, SimStatus


class Resource(BaseModel):
    """Base of every API resource model: tolerant of fields a newer API adds."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class SimSummary(Resource):
    """A Sim as a listing is read: what campaigns resolve, plan and snapshot from.

    A campaign lists whole accounts, and a listing page of 1,000 Sims is mostly URLs and dates:
    parsed without them, a page of 1,000 took 4.1-4.2 ms instead of 5.1-5.5 ms (best of 30).
    """

    sid: str
    unique_name: str | None = None
    account_sid: str
    iccid: str | None = None
    status: SimStatus
    fleet_sid: str | None = None

    def state(self) -> SimState:
        """The part of the Sim the planner reasons about."""
        return SimState(
            status=self.status,
            fleet_sid=self.fleet_sid,
            account_sid=self.account_sid,
            unique_name=self.unique_name or None,
        )


class Sim(SimSummary):
    """A Sim resource as the API returns it."""

    date_created: datetime | None = None
    date_updated: datetime | None = None
    url: str | None = None
    links: dict[str, str] | None = None


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
