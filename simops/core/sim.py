"""A SIM in the domain: its statuses, the state the planner reasons about (`SimState`,
`SimSnapshot`), the state an operation wants (`DesiredState`), the update it sends (`SimUpdate`)
and the planner's answer (`PlanStep`). No I/O.

Every model ignores unknown fields, so that a newer simops can add fields without breaking a
running workflow.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Protocol

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

    @classmethod
    def of(cls, sim: SimLike) -> SimState:
        """The state of a SIM as held (a snapshot, the emulator's record), fields as they are."""
        return cls(
            status=sim.status,
            fleet_sid=sim.fleet_sid,
            account_sid=sim.account_sid,
            unique_name=sim.unique_name,
        )


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


class SimLike(Protocol):
    """What a snapshot is taken of: a Sim resource (`simops.supersim.resources.Sim`), which the
    domain does not import."""

    @property
    def sid(self) -> str:
        """The SIM's SID."""

    @property
    def status(self) -> SimStatus:
        """Its status."""

    @property
    def fleet_sid(self) -> str | None:
        """Its Fleet, if any."""

    @property
    def account_sid(self) -> str:
        """The account it belongs to."""

    @property
    def unique_name(self) -> str | None:
        """Its unique name, if any."""


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
        return SimState.of(self)
