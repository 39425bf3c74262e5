"""The payloads of one SIM's operation: its workflow's input, result and progress, its
activities', and the callbacks the ingress signals (to a campaign batch too). Fields are only
ever added (never renamed) while workflows may be running.

Apart from `simops.messages`, whose campaign payloads need the campaign modules: `simops sim`
imports these to start an operation, and its start-up is most of what a one-SIM operation costs
beyond the API's own delay.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from simops.core.sim import OutcomeKind, SimSnapshot, SimStatus, SimUpdate

OperationName = Literal[
    "activate", "ready", "deactivate", "reactivate", "set-fleet", "rename", "move", "converge"
]


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

    `expected` is the SIM as the update was planned from: the activity reads the SIM first, and
    finding it otherwise (an earlier run took effect) writes nothing and returns what it read.
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
