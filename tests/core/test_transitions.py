"""The Super SIM rules and the planner, checked against docs/supersim-api.md.

Every expected outcome below is written out by hand from that page (the API's rules, the
decisions where the reference is silent and the module's own decisions beyond it); none is
computed by the code under test. The hypothesis properties then check the planner against
`evaluate_update` over many states and goals.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from simops.core.codes import RuleCode
from simops.core.sim import (
    ENABLED_STATUSES,
    NO_FLEET,
    REQUESTABLE_STATUSES,
    DesiredState,
    PlanKind,
    PlanStep,
    SimState,
    SimStatus,
    SimUpdate,
)
from simops.core.transitions import RuleViolation, UpdateEffect, evaluate_update, is_converged, plan

NEW = SimStatus.NEW
READY = SimStatus.READY
ACTIVE = SimStatus.ACTIVE
INACTIVE = SimStatus.INACTIVE
SCHEDULED = SimStatus.SCHEDULED

PARENT = "AC" + "a" * 32
CHILD = "AC" + "b" * 32
OTHER_CHILD = "AC" + "c" * 32
F1 = "HF" + "1" * 32
F2 = "HF" + "2" * 32
CHILD_FLEET = "HF" + "c" * 32
NAME = "tracker-1"
RENAMED = "tracker-2"


def sim(
    status: SimStatus,
    fleet_sid: str | None = None,
    account_sid: str = PARENT,
    unique_name: str | None = NAME,
) -> SimState:
    """A SIM state; by default a SIM of the parent account named `tracker-1` with no Fleet."""
    return SimState(
        status=status, fleet_sid=fleet_sid, account_sid=account_sid, unique_name=unique_name
    )


# --- evaluate_update: every status x request ------------------------------------------------


@dataclass(frozen=True)
class Refused:
    """The API answers with this error code and HTTP status."""

    code: RuleCode
    http_status: int = 400


@dataclass(frozen=True)
class Applied:
    """The API accepts: the SIM's state at once, its final state when asynchronous (202)."""

    immediate: SimState
    final: SimState | None = None
    changed: bool = True


Outcome = Refused | Applied


def outcome_of(verdict: UpdateEffect | RuleViolation) -> Outcome:
    """The module's answer in the table's terms."""
    if isinstance(verdict, RuleViolation):
        assert verdict.message
        return Refused(verdict.code, verdict.http_status)
    return Applied(verdict.immediate, verdict.final, verdict.changed)


@dataclass(frozen=True)
class Start:
    """Where a SIM is when the request arrives (and where it is heading while scheduled)."""

    current: SimState
    scheduled_target: SimState | None = None


@dataclass(frozen=True)
class Request:
    """One update request, and whether the account has the inactive-move private beta."""

    update: SimUpdate
    inactive_move_allowed: bool = False


STARTS: dict[str, Start] = {
    "new": Start(sim(NEW)),
    "new+F1": Start(sim(NEW, F1)),
    "ready": Start(sim(READY, F1)),
    "active": Start(sim(ACTIVE, F1)),
    "inactive": Start(sim(INACTIVE, F1)),
    "inactive-no-fleet": Start(sim(INACTIVE)),
    "scheduled-activation": Start(sim(SCHEDULED, F1), sim(ACTIVE, F1)),
    "scheduled-fleet-change": Start(sim(SCHEDULED, F1), sim(ACTIVE, F2)),
    "scheduled-unknown-target": Start(sim(SCHEDULED, F1)),
}

MOVE = SimUpdate(account_sid=CHILD)
MOVE_WITH_FLEET = SimUpdate(account_sid=CHILD, fleet=CHILD_FLEET)
MOVE_NO_FLEET = SimUpdate(account_sid=CHILD, fleet=NO_FLEET)

REQUESTS: dict[str, Request] = {
    "Status=ready": Request(SimUpdate(status=READY)),
    "Status=active": Request(SimUpdate(status=ACTIVE)),
    "Status=inactive": Request(SimUpdate(status=INACTIVE)),
    "Status=new": Request(SimUpdate(status=NEW)),
    "Fleet=F1": Request(SimUpdate(fleet=F1)),
    "Fleet=F2": Request(SimUpdate(fleet=F2)),
    "Fleet=''": Request(SimUpdate(fleet=NO_FLEET)),
    "AccountSid=child": Request(MOVE),
    "AccountSid=child Fleet=G": Request(MOVE_WITH_FLEET),
    "AccountSid=child Fleet=''": Request(MOVE_NO_FLEET),
    "AccountSid=child (beta)": Request(MOVE, inactive_move_allowed=True),
    "AccountSid=child Fleet=G (beta)": Request(MOVE_WITH_FLEET, inactive_move_allowed=True),
    "AccountSid=child Fleet='' (beta)": Request(MOVE_NO_FLEET, inactive_move_allowed=True),
    "AccountSid=own": Request(SimUpdate(account_sid=PARENT)),
    "UniqueName=renamed": Request(SimUpdate(unique_name=RENAMED)),
    "UniqueName=same": Request(SimUpdate(unique_name=NAME)),
    "Status=active Fleet=F2": Request(SimUpdate(status=ACTIVE, fleet=F2)),
    "Status=ready Fleet=F2": Request(SimUpdate(status=READY, fleet=F2)),
    "Status=inactive Fleet=''": Request(SimUpdate(status=INACTIVE, fleet=NO_FLEET)),
    "Status=active Fleet=''": Request(SimUpdate(status=ACTIVE, fleet=NO_FLEET)),
    "AccountSid=child Fleet=G Status=active": Request(
        SimUpdate(account_sid=CHILD, fleet=CHILD_FLEET, status=ACTIVE)
    ),
}

MOVE_REQUESTS = [name for name in REQUESTS if name.startswith("AccountSid=child")]

NOT_ALLOWED = Refused(RuleCode.TRANSITION_NOT_ALLOWED)
FLEET_REQUIRED = Refused(RuleCode.FLEET_REQUIRED)
FLEET_REMOVAL = Refused(RuleCode.FLEET_REMOVAL_NOT_ALLOWED)
MOVE_NEEDS_FLEET = Refused(RuleCode.FLEET_NOT_FOUND)
SCHEDULED_FLEET = Refused(RuleCode.SCHEDULED_CONFLICT)
SCHEDULED_CONFLICT = Refused(RuleCode.SCHEDULED_CONFLICT, http_status=409)


def no_op(start: str) -> Applied:
    """Accepted, nothing changes (a scheduled SIM stays on its way to its target)."""
    begin = STARTS[start]
    return Applied(begin.current, begin.scheduled_target, changed=False)


TABLE: dict[tuple[str, str], Outcome] = {}


def expect(start: str, outcomes: dict[str, Outcome]) -> None:
    """Add the expected outcome of each request from `start` to the table."""
    for request_name, outcome in outcomes.items():
        assert (start, request_name) not in TABLE, (start, request_name)
        TABLE[start, request_name] = outcome


expect(
    "new",
    {
        "Status=ready": FLEET_REQUIRED,
        "Status=active": FLEET_REQUIRED,
        "Status=inactive": NOT_ALLOWED,
        "Status=new": NOT_ALLOWED,
        "Fleet=F1": Applied(sim(NEW, F1)),
        "Fleet=F2": Applied(sim(NEW, F2)),
        "Fleet=''": no_op("new"),
        "AccountSid=child": Applied(sim(NEW, account_sid=CHILD)),
        "AccountSid=child Fleet=G": Applied(sim(NEW, CHILD_FLEET, CHILD)),
        "AccountSid=child Fleet=''": Applied(sim(NEW, account_sid=CHILD)),
        "AccountSid=child (beta)": Applied(sim(NEW, account_sid=CHILD)),
        "AccountSid=child Fleet=G (beta)": Applied(sim(NEW, CHILD_FLEET, CHILD)),
        "AccountSid=child Fleet='' (beta)": Applied(sim(NEW, account_sid=CHILD)),
        "AccountSid=own": no_op("new"),
        "UniqueName=renamed": Applied(sim(NEW, unique_name=RENAMED)),
        "UniqueName=same": no_op("new"),
        # The Fleet of a new SIM is applied at once, the activation is scheduled.
        "Status=active Fleet=F2": Applied(sim(SCHEDULED, F2), sim(ACTIVE, F2)),
        "Status=ready Fleet=F2": Applied(sim(SCHEDULED, F2), sim(READY, F2)),
        "Status=inactive Fleet=''": NOT_ALLOWED,
        "Status=active Fleet=''": FLEET_REQUIRED,
        "AccountSid=child Fleet=G Status=active": Applied(
            sim(SCHEDULED, CHILD_FLEET, CHILD), sim(ACTIVE, CHILD_FLEET, CHILD)
        ),
    },
)
expect(
    "new+F1",
    {
        "Status=ready": Applied(sim(SCHEDULED, F1), sim(READY, F1)),
        "Status=active": Applied(sim(SCHEDULED, F1), sim(ACTIVE, F1)),
        "Status=inactive": NOT_ALLOWED,
        "Fleet=F1": no_op("new+F1"),
        "Fleet=F2": Applied(sim(NEW, F2)),
        "Fleet=''": Applied(sim(NEW)),
        "AccountSid=child": MOVE_NEEDS_FLEET,
        "AccountSid=child (beta)": MOVE_NEEDS_FLEET,
        "AccountSid=child Fleet=G": Applied(sim(NEW, CHILD_FLEET, CHILD)),
        "AccountSid=child Fleet=''": Applied(sim(NEW, account_sid=CHILD)),
        "Status=active Fleet=F2": Applied(sim(SCHEDULED, F2), sim(ACTIVE, F2)),
        # The SIM is new, not ready/active: 83008 does not apply; active needs a Fleet.
        "Status=active Fleet=''": FLEET_REQUIRED,
        "AccountSid=child Fleet=G Status=active": Applied(
            sim(SCHEDULED, CHILD_FLEET, CHILD), sim(ACTIVE, CHILD_FLEET, CHILD)
        ),
    },
)
expect(
    "ready",
    {
        "Status=ready": no_op("ready"),
        "Status=active": Applied(sim(ACTIVE, F1)),
        "Status=inactive": Applied(sim(SCHEDULED, F1), sim(INACTIVE, F1)),
        "Status=new": NOT_ALLOWED,
        "Fleet=F1": no_op("ready"),
        # A Fleet change of an activated SIM keeps the old fleet_sid while scheduled.
        "Fleet=F2": Applied(sim(SCHEDULED, F1), sim(READY, F2)),
        "Fleet=''": FLEET_REMOVAL,
        **dict.fromkeys(MOVE_REQUESTS, NOT_ALLOWED),
        "AccountSid=own": no_op("ready"),
        "UniqueName=renamed": Applied(sim(READY, F1, unique_name=RENAMED)),
        "UniqueName=same": no_op("ready"),
        "Status=active Fleet=F2": Applied(sim(SCHEDULED, F1), sim(ACTIVE, F2)),
        "Status=ready Fleet=F2": Applied(sim(SCHEDULED, F1), sim(READY, F2)),
        "Status=inactive Fleet=''": FLEET_REMOVAL,
        "Status=active Fleet=''": FLEET_REMOVAL,
    },
)
expect(
    "active",
    {
        "Status=ready": NOT_ALLOWED,
        "Status=active": no_op("active"),
        "Status=inactive": Applied(sim(SCHEDULED, F1), sim(INACTIVE, F1)),
        "Status=new": NOT_ALLOWED,
        "Fleet=F1": no_op("active"),
        "Fleet=F2": Applied(sim(SCHEDULED, F1), sim(ACTIVE, F2)),
        "Fleet=''": FLEET_REMOVAL,
        **dict.fromkeys(MOVE_REQUESTS, NOT_ALLOWED),
        "AccountSid=own": no_op("active"),
        "UniqueName=renamed": Applied(sim(ACTIVE, F1, unique_name=RENAMED)),
        "UniqueName=same": no_op("active"),
        "Status=active Fleet=F2": Applied(sim(SCHEDULED, F1), sim(ACTIVE, F2)),
        "Status=ready Fleet=F2": NOT_ALLOWED,
        "Status=inactive Fleet=''": FLEET_REMOVAL,
        "Status=active Fleet=''": FLEET_REMOVAL,
    },
)
expect(
    "inactive",
    {
        "Status=ready": NOT_ALLOWED,
        "Status=active": Applied(sim(SCHEDULED, F1), sim(ACTIVE, F1)),
        "Status=inactive": no_op("inactive"),
        "Status=new": NOT_ALLOWED,
        "Fleet=F1": no_op("inactive"),
        "Fleet=F2": Applied(sim(INACTIVE, F2)),
        "Fleet=''": Applied(sim(INACTIVE)),
        "AccountSid=child": NOT_ALLOWED,
        "AccountSid=child Fleet=G": NOT_ALLOWED,
        "AccountSid=child Fleet=''": NOT_ALLOWED,
        "AccountSid=child (beta)": MOVE_NEEDS_FLEET,
        "AccountSid=child Fleet=G (beta)": Applied(sim(INACTIVE, CHILD_FLEET, CHILD)),
        "AccountSid=child Fleet='' (beta)": Applied(sim(INACTIVE, account_sid=CHILD)),
        "AccountSid=own": no_op("inactive"),
        "UniqueName=renamed": Applied(sim(INACTIVE, F1, unique_name=RENAMED)),
        "UniqueName=same": no_op("inactive"),
        # The Fleet of an inactive SIM is applied at once, the reactivation is scheduled.
        "Status=active Fleet=F2": Applied(sim(SCHEDULED, F2), sim(ACTIVE, F2)),
        "Status=ready Fleet=F2": NOT_ALLOWED,
        "Status=inactive Fleet=''": Applied(sim(INACTIVE)),
        # The SIM is inactive, not ready/active: 83008 does not apply; active needs a Fleet.
        "Status=active Fleet=''": FLEET_REQUIRED,
        "AccountSid=child Fleet=G Status=active": NOT_ALLOWED,
    },
)
expect(
    "inactive-no-fleet",
    {
        "Status=active": FLEET_REQUIRED,
        "Status=active Fleet=F2": Applied(sim(SCHEDULED, F2), sim(ACTIVE, F2)),
        "Fleet=F1": Applied(sim(INACTIVE, F1)),
        "Fleet=''": no_op("inactive-no-fleet"),
        "AccountSid=child": NOT_ALLOWED,
        "AccountSid=child (beta)": Applied(sim(INACTIVE, account_sid=CHILD)),
    },
)
expect(
    "scheduled-activation",
    {
        "Status=ready": SCHEDULED_CONFLICT,
        "Status=active": no_op("scheduled-activation"),
        "Status=inactive": SCHEDULED_CONFLICT,
        # Not a requestable status at all, whatever the SIM is doing.
        "Status=new": NOT_ALLOWED,
        "Fleet=F1": no_op("scheduled-activation"),
        "Fleet=F2": SCHEDULED_FLEET,
        "Fleet=''": SCHEDULED_FLEET,
        # A move while scheduled is 409, whatever Fleet it carries.
        **dict.fromkeys(MOVE_REQUESTS, SCHEDULED_CONFLICT),
        "AccountSid=own": no_op("scheduled-activation"),
        # A UniqueName change is applied at once, and to the state the SIM is heading to.
        "UniqueName=renamed": Applied(
            sim(SCHEDULED, F1, unique_name=RENAMED), sim(ACTIVE, F1, unique_name=RENAMED)
        ),
        "UniqueName=same": no_op("scheduled-activation"),
        "Status=active Fleet=F2": SCHEDULED_FLEET,
        "Status=ready Fleet=F2": SCHEDULED_CONFLICT,
        "Status=inactive Fleet=''": SCHEDULED_CONFLICT,
        "Status=active Fleet=''": SCHEDULED_FLEET,
    },
)
expect(
    "scheduled-fleet-change",
    {
        "Status=active": no_op("scheduled-fleet-change"),
        "Status=inactive": SCHEDULED_CONFLICT,
        "Fleet=F2": no_op("scheduled-fleet-change"),
        "Fleet=F1": SCHEDULED_FLEET,
        "Status=active Fleet=F2": no_op("scheduled-fleet-change"),
        "UniqueName=renamed": Applied(
            sim(SCHEDULED, F1, unique_name=RENAMED), sim(ACTIVE, F2, unique_name=RENAMED)
        ),
    },
)
expect(
    "scheduled-unknown-target",
    {
        # Without knowing where the SIM is heading, no Status can be recognised as the same.
        "Status=active": SCHEDULED_CONFLICT,
        "AccountSid=child": SCHEDULED_CONFLICT,
    },
)


def table_params() -> list[object]:
    """The table as pytest params."""
    return [
        pytest.param(
            start,
            request_name,
            outcome,
            id=f"{start} | {request_name}",
        )
        for (start, request_name), outcome in TABLE.items()
    ]


@pytest.mark.parametrize(("start", "request_name", "expected"), table_params())
def test_evaluate_update(start: str, request_name: str, expected: Outcome) -> None:
    """Each request from each starting state gets the outcome the reference page gives."""
    begin = STARTS[start]
    request = REQUESTS[request_name]
    verdict = evaluate_update(
        begin.current,
        request.update,
        scheduled_target=begin.scheduled_target,
        inactive_move_allowed=request.inactive_move_allowed,
    )
    assert outcome_of(verdict) == expected


def test_table_covers_every_status_and_request() -> None:
    """Every status meets every kind of request at least once."""
    covered = {(STARTS[start].current.status, request) for start, request in TABLE}
    missing = {(status, request) for status in SimStatus for request in REQUESTS} - covered
    assert not missing


# --- plan: the main paths ------------------------------------------------------------------


def call(update: SimUpdate, *, is_async: bool) -> PlanStep:
    """The planner's answer when it proposes `update`."""
    return PlanStep(kind=PlanKind.CALL, update=update, is_async=is_async)


def impossible(code: RuleCode) -> PlanStep:
    """The planner's answer when the goal cannot be reached (its reason is checked apart)."""
    return PlanStep(kind=PlanKind.IMPOSSIBLE, code=int(code))


WAIT = PlanStep(kind=PlanKind.WAIT)
DONE = PlanStep(kind=PlanKind.DONE)

PLAN_CASES = [
    pytest.param(
        sim(NEW),
        DesiredState(status=ACTIVE, fleet_sid=F1),
        call(SimUpdate(status=ACTIVE, fleet=F1), is_async=True),
        id="activate with fleet",
    ),
    pytest.param(
        sim(NEW),
        DesiredState(status=READY, fleet_sid=F1),
        call(SimUpdate(status=READY, fleet=F1), is_async=True),
        id="ready with fleet",
    ),
    pytest.param(
        sim(NEW, F1),
        DesiredState(status=ACTIVE),
        call(SimUpdate(status=ACTIVE), is_async=True),
        id="activate on the assigned fleet",
    ),
    pytest.param(
        sim(NEW),
        DesiredState(status=ACTIVE),
        impossible(RuleCode.FLEET_REQUIRED),
        id="activate without any fleet",
    ),
    pytest.param(
        sim(NEW, F1),
        DesiredState(status=ACTIVE, remove_fleet=True),
        impossible(RuleCode.FLEET_REQUIRED),
        id="activate with no-fleet",
    ),
    pytest.param(
        sim(READY, F1),
        DesiredState(status=ACTIVE),
        call(SimUpdate(status=ACTIVE), is_async=False),
        id="ready to active at once",
    ),
    pytest.param(
        sim(ACTIVE, F1),
        DesiredState(status=INACTIVE),
        call(SimUpdate(status=INACTIVE), is_async=True),
        id="deactivate",
    ),
    pytest.param(
        sim(NEW, F1),
        DesiredState(status=INACTIVE),
        impossible(RuleCode.TRANSITION_NOT_ALLOWED),
        id="deactivate a new SIM",
    ),
    pytest.param(
        sim(INACTIVE, F1),
        DesiredState(status=ACTIVE),
        call(SimUpdate(status=ACTIVE), is_async=True),
        id="reactivate",
    ),
    pytest.param(
        sim(INACTIVE),
        DesiredState(status=ACTIVE, fleet_sid=F2),
        call(SimUpdate(status=ACTIVE, fleet=F2), is_async=True),
        id="reactivate with fleet",
    ),
    pytest.param(
        sim(ACTIVE, F1),
        DesiredState(status=READY),
        impossible(RuleCode.TRANSITION_NOT_ALLOWED),
        id="back to ready",
    ),
    pytest.param(
        sim(ACTIVE, F1),
        DesiredState(fleet_sid=F2),
        call(SimUpdate(fleet=F2), is_async=True),
        id="set fleet on active",
    ),
    pytest.param(
        sim(INACTIVE, F1),
        DesiredState(fleet_sid=F2),
        call(SimUpdate(fleet=F2), is_async=False),
        id="set fleet on inactive",
    ),
    pytest.param(
        sim(ACTIVE, F1),
        DesiredState(remove_fleet=True),
        impossible(RuleCode.FLEET_REMOVAL_NOT_ALLOWED),
        id="remove fleet on active",
    ),
    pytest.param(
        sim(INACTIVE, F1),
        DesiredState(remove_fleet=True),
        call(SimUpdate(fleet=NO_FLEET), is_async=False),
        id="remove fleet on inactive",
    ),
    pytest.param(
        sim(ACTIVE, F1),
        DesiredState(unique_name=RENAMED),
        call(SimUpdate(unique_name=RENAMED), is_async=False),
        id="rename",
    ),
    pytest.param(
        sim(NEW),
        DesiredState(status=ACTIVE, fleet_sid=F1, unique_name=RENAMED),
        call(SimUpdate(status=ACTIVE, fleet=F1, unique_name=RENAMED), is_async=True),
        id="activate and rename in one call",
    ),
    pytest.param(
        sim(NEW),
        DesiredState(account_sid=CHILD),
        call(SimUpdate(account_sid=CHILD), is_async=False),
        id="move new SIM without fleet",
    ),
    pytest.param(
        sim(NEW, F1),
        DesiredState(account_sid=CHILD, fleet_sid=CHILD_FLEET),
        call(SimUpdate(account_sid=CHILD, fleet=CHILD_FLEET), is_async=False),
        id="move new SIM with fleet",
    ),
    pytest.param(
        sim(NEW, F1),
        DesiredState(account_sid=CHILD, remove_fleet=True),
        call(SimUpdate(account_sid=CHILD, fleet=NO_FLEET), is_async=False),
        id="move new SIM --no-fleet",
    ),
    pytest.param(
        sim(NEW, F1),
        DesiredState(account_sid=CHILD),
        impossible(RuleCode.FLEET_NOT_FOUND),
        id="move new SIM keeping its fleet",
    ),
    pytest.param(
        sim(INACTIVE, F1),
        DesiredState(account_sid=CHILD, fleet_sid=CHILD_FLEET, allow_inactive_move=True),
        call(SimUpdate(account_sid=CHILD, fleet=CHILD_FLEET), is_async=False),
        id="move inactive with the beta",
    ),
    pytest.param(
        sim(INACTIVE, F1),
        DesiredState(account_sid=CHILD, fleet_sid=CHILD_FLEET),
        impossible(RuleCode.TRANSITION_NOT_ALLOWED),
        id="move inactive without the beta",
    ),
    pytest.param(
        sim(INACTIVE, F1),
        DesiredState(account_sid=CHILD),
        impossible(RuleCode.TRANSITION_NOT_ALLOWED),
        id="move inactive without the beta nor a fleet",
    ),
    pytest.param(
        sim(ACTIVE, F1),
        DesiredState(account_sid=CHILD, fleet_sid=CHILD_FLEET, allow_inactive_move=True),
        impossible(RuleCode.TRANSITION_NOT_ALLOWED),
        id="move active",
    ),
    pytest.param(
        sim(NEW),
        DesiredState(account_sid=CHILD, fleet_sid=CHILD_FLEET, status=ACTIVE),
        call(SimUpdate(account_sid=CHILD, fleet=CHILD_FLEET), is_async=False),
        id="move then activate: the move goes first",
    ),
    pytest.param(
        sim(NEW),
        DesiredState(account_sid=CHILD, fleet_sid=CHILD_FLEET, status=INACTIVE),
        impossible(RuleCode.TRANSITION_NOT_ALLOWED),
        id="move then deactivate a new SIM: refused before the move",
    ),
    pytest.param(
        sim(INACTIVE),
        DesiredState(account_sid=CHILD, status=ACTIVE, allow_inactive_move=True),
        impossible(RuleCode.FLEET_REQUIRED),
        id="move then reactivate without fleet: refused before the move",
    ),
    pytest.param(
        sim(SCHEDULED, F1),
        DesiredState(status=ACTIVE),
        WAIT,
        id="scheduled",
    ),
    pytest.param(
        sim(ACTIVE, F1),
        DesiredState(status=ACTIVE, fleet_sid=F1, unique_name=NAME),
        DONE,
        id="converged",
    ),
    pytest.param(
        sim(INACTIVE),
        DesiredState(status=INACTIVE, remove_fleet=True),
        DONE,
        id="converged without fleet",
    ),
    pytest.param(sim(READY, F1), DesiredState(), DONE, id="nothing desired"),
]


@pytest.mark.parametrize(("observed", "desired", "expected"), PLAN_CASES)
def test_plan(observed: SimState, desired: DesiredState, expected: PlanStep) -> None:
    """The planner's next step on the main paths."""
    step = plan(observed, desired)
    if step.kind in (PlanKind.IMPOSSIBLE, PlanKind.WAIT):
        assert step.reason
    assert step.model_copy(update={"reason": None}) == expected


@pytest.mark.parametrize("status", [NEW, SCHEDULED])
def test_desired_state_never_asks_for(status: SimStatus) -> None:
    """Nothing returns to `new`: a goal cannot even name it (nor `scheduled`)."""
    with pytest.raises(ValidationError):
        DesiredState(status=status)


# --- following the planner in a simulated world -------------------------------------------


@dataclass(frozen=True)
class Path:
    """Where following the planner led: its last step, the SIM's state and the calls made."""

    last: PlanStep
    observed: SimState
    calls: list[SimUpdate]


def follow(observed: SimState, desired: DesiredState, max_calls: int = 4) -> Path:
    """Follow the planner's calls in a world that obeys `evaluate_update`, until it stops.

    Every proposed call must be accepted and change something; an asynchronous one must leave
    the SIM `scheduled` (the planner then waits) before it reaches its final state.
    """
    calls: list[SimUpdate] = []
    while True:
        step = plan(observed, desired)
        if step.kind in (PlanKind.DONE, PlanKind.IMPOSSIBLE):
            return Path(step, observed, calls)
        assert step.kind == PlanKind.CALL and step.update is not None, step
        assert len(calls) < max_calls, f"no end after {calls}"
        verdict = evaluate_update(
            observed, step.update, inactive_move_allowed=desired.allow_inactive_move
        )
        assert isinstance(verdict, UpdateEffect), (observed, step.update, verdict)
        assert verdict.changed, f"{step.update} is a wasted write on {observed}"
        assert verdict.is_async == step.is_async
        calls.append(step.update)
        if verdict.final is not None:
            assert plan(verdict.immediate, desired).kind == PlanKind.WAIT
            observed = verdict.final
        else:
            observed = verdict.immediate


def test_follow_move_then_activate() -> None:
    """A move and an activation take two calls, the move first."""
    path = follow(sim(NEW), DesiredState(account_sid=CHILD, fleet_sid=CHILD_FLEET, status=ACTIVE))
    assert path.last.kind == PlanKind.DONE
    assert path.calls == [
        SimUpdate(account_sid=CHILD, fleet=CHILD_FLEET),
        SimUpdate(status=ACTIVE),
    ]
    assert path.observed == sim(ACTIVE, CHILD_FLEET, CHILD)


# --- hypothesis properties -----------------------------------------------------------------

PROPERTY_SETTINGS = settings(max_examples=250, deadline=None)

ACCOUNTS = (PARENT, CHILD, OTHER_CHILD)
FLEETS = (F1, F2, CHILD_FLEET)
OBSERVED_NAMES = (None, NAME, RENAMED)
DESIRED_NAMES = ("", NAME, RENAMED)
COMPLETE = "complete the scheduled update"


@st.composite
def observed_states(draw: st.DrawFn) -> SimState:
    """A SIM the API can report, not `scheduled`: ready and active SIMs always have a Fleet."""
    status = draw(st.sampled_from([NEW, READY, ACTIVE, INACTIVE]))
    fleets = st.sampled_from(FLEETS)
    return SimState(
        status=status,
        fleet_sid=draw(fleets if status in ENABLED_STATUSES else st.none() | fleets),
        account_sid=draw(st.sampled_from(ACCOUNTS)),
        unique_name=draw(st.sampled_from(OBSERVED_NAMES)),
    )


@st.composite
def desired_states(draw: st.DrawFn) -> DesiredState:
    """Any goal over the same small pools of accounts, Fleets and names."""
    fleet = draw(st.sampled_from(["keep", "remove", *FLEETS]))
    return DesiredState(
        status=draw(st.none() | st.sampled_from(REQUESTABLE_STATUSES)),
        fleet_sid=fleet if fleet in FLEETS else None,
        remove_fleet=fleet == "remove",
        account_sid=draw(st.none() | st.sampled_from(ACCOUNTS)),
        unique_name=draw(st.none() | st.sampled_from(DESIRED_NAMES)),
        allow_inactive_move=draw(st.booleans()),
    )


single_field_goals = st.one_of(
    st.builds(DesiredState, status=st.sampled_from(REQUESTABLE_STATUSES)),
    st.builds(DesiredState, fleet_sid=st.sampled_from(FLEETS)),
    st.just(DesiredState(remove_fleet=True)),
    st.builds(
        DesiredState, account_sid=st.sampled_from(ACCOUNTS), allow_inactive_move=st.booleans()
    ),
    st.builds(DesiredState, unique_name=st.sampled_from(DESIRED_NAMES)),
)

updates = st.builds(
    SimUpdate,
    status=st.none() | st.sampled_from(SimStatus),
    fleet=st.none() | st.sampled_from((NO_FLEET, *FLEETS)),
    account_sid=st.none() | st.sampled_from(ACCOUNTS),
    unique_name=st.none() | st.sampled_from(DESIRED_NAMES),
)


@PROPERTY_SETTINGS
@given(observed=observed_states(), desired=desired_states())
def test_planner_proposes_only_accepted_calls(observed: SimState, desired: DesiredState) -> None:
    """(a) Whatever the planner proposes, the rules accept, and it changes something."""
    step = plan(observed, desired)
    if step.kind != PlanKind.CALL:
        return
    assert step.update is not None
    verdict = evaluate_update(
        observed, step.update, inactive_move_allowed=desired.allow_inactive_move
    )
    assert isinstance(verdict, UpdateEffect)
    assert verdict.changed
    assert verdict.is_async == step.is_async


@PROPERTY_SETTINGS
@given(observed=observed_states(), desired=desired_states())
def test_following_the_planner_ends(observed: SimState, desired: DesiredState) -> None:
    """(b) Following the planner ends in DONE (converged) or IMPOSSIBLE with a code and reason.

    An impossible goal is found before any write: a SIM is never moved, say, towards a status
    it cannot take in its new account.
    """
    path = follow(observed, desired)
    if path.last.kind == PlanKind.DONE:
        assert is_converged(path.observed, desired)
    else:
        assert path.last.code is not None
        assert path.last.reason
        assert path.calls == []


@PROPERTY_SETTINGS
@given(
    start=observed_states(),
    steps=st.lists(st.just(COMPLETE) | updates, max_size=12),
    inactive_move_allowed=st.booleans(),
)
def test_nothing_returns_to_new(
    start: SimState, steps: list[str | SimUpdate], inactive_move_allowed: bool
) -> None:
    """(c) No sequence of accepted updates brings a SIM that left `new` back to it.

    Along the way the other invariants of the rules hold: an asynchronous update leaves the SIM
    `scheduled` and ends in a status that is not, and a ready or active SIM has a Fleet.
    """
    observed, heading_to = start, None
    left_new = start.status != NEW
    for step in steps:
        if isinstance(step, SimUpdate):
            verdict = evaluate_update(
                observed,
                step,
                scheduled_target=heading_to,
                inactive_move_allowed=inactive_move_allowed,
            )
            if isinstance(verdict, RuleViolation):
                continue
            if verdict.final is not None:
                assert verdict.immediate.status == SCHEDULED
                assert verdict.final.status != SCHEDULED
            observed, heading_to = verdict.immediate, verdict.final or heading_to
        elif heading_to is not None:
            observed, heading_to = heading_to, None
        for state in (observed, heading_to):
            if state is not None:
                assert not (left_new and state.status == NEW), steps
                assert state.status not in ENABLED_STATUSES or state.fleet_sid is not None
        left_new = left_new or observed.status != NEW


@PROPERTY_SETTINGS
@given(observed=observed_states(), desired=desired_states())
def test_second_run_makes_no_call(observed: SimState, desired: DesiredState) -> None:
    """(d) Once converged, running the operation again proposes nothing."""
    path = follow(observed, desired)
    if path.last.kind == PlanKind.DONE:
        assert follow(path.observed, desired).calls == []


@PROPERTY_SETTINGS
@given(observed=observed_states())
def test_observed_state_as_goal_is_done(observed: SimState) -> None:
    """(d) A goal that asks for exactly what the SIM has is already done."""
    desired = DesiredState(
        status=observed.status if observed.status in REQUESTABLE_STATUSES else None,
        fleet_sid=observed.fleet_sid,
        remove_fleet=observed.fleet_sid is None,
        account_sid=observed.account_sid,
        unique_name=observed.unique_name,
    )
    assert plan(observed, desired) == DONE


@PROPERTY_SETTINGS
@given(observed=observed_states(), desired=single_field_goals)
def test_single_field_goal_takes_at_most_one_call(
    observed: SimState, desired: DesiredState
) -> None:
    """(e) A one-field goal takes one call, none when already there, none when impossible."""
    path = follow(observed, desired)
    expected_calls = 0 if is_converged(observed, desired) or path.last.kind != PlanKind.DONE else 1
    assert len(path.calls) == expected_calls


@PROPERTY_SETTINGS
@given(observed=observed_states(), desired=desired_states())
def test_goal_without_move_takes_at_most_one_call(
    observed: SimState, desired: DesiredState
) -> None:
    """(e) Status, Fleet and name go in one request, except a deactivation that also removes
    the Fleet: the Fleet of an enabled SIM cannot be removed, so it is deactivated first."""
    goal = desired.model_copy(update={"account_sid": None})
    path = follow(observed, goal)
    deactivate_then_remove = (
        observed.status in ENABLED_STATUSES
        and goal.status == SimStatus.INACTIVE
        and goal.remove_fleet
        and observed.fleet_sid is not None
    )
    assert len(path.calls) <= (2 if deactivate_then_remove else 1)
    if deactivate_then_remove and path.last.kind == PlanKind.DONE:
        assert path.calls[0].status == SimStatus.INACTIVE and path.calls[0].fleet is None


@PROPERTY_SETTINGS
@given(observed=observed_states(), desired=desired_states())
def test_goal_with_move_takes_at_most_two_calls(observed: SimState, desired: DesiredState) -> None:
    """(e) A move and the rest of the goal take two calls at most."""
    assert len(follow(observed, desired).calls) <= 2


@PROPERTY_SETTINGS
@given(
    fleet_sid=st.sampled_from(FLEETS),
    status=st.sampled_from(ENABLED_STATUSES),
    account_sid=st.sampled_from(ACCOUNTS),
)
def test_activation_with_fleet_from_new_is_one_call(
    fleet_sid: str, status: SimStatus, account_sid: str
) -> None:
    """(e) Activating a new SIM onto a Fleet is exactly one (asynchronous) call."""
    path = follow(
        sim(NEW, account_sid=account_sid), DesiredState(status=status, fleet_sid=fleet_sid)
    )
    assert path.last.kind == PlanKind.DONE
    assert path.calls == [SimUpdate(status=status, fleet=fleet_sid)]


def test_deactivate_to_move_takes_deactivate_move_reactivate() -> None:
    """A migration of an active SIM: deactivate, then move with the new Fleet, then reactivate."""
    observed = SimState(status=SimStatus.ACTIVE, fleet_sid=F1, account_sid=PARENT)
    desired = DesiredState(
        status=SimStatus.ACTIVE,
        account_sid=CHILD,
        fleet_sid=CHILD_FLEET,
        allow_inactive_move=True,
        deactivate_to_move=True,
    )
    path = follow(observed, desired)

    assert path.last.kind == PlanKind.DONE
    assert [(call.status, call.account_sid, call.fleet) for call in path.calls] == [
        (SimStatus.INACTIVE, None, None),
        (None, CHILD, CHILD_FLEET),
        (SimStatus.ACTIVE, None, None),
    ]


def test_deactivate_to_move_without_the_beta_is_refused_before_any_write() -> None:
    observed = SimState(status=SimStatus.ACTIVE, fleet_sid=F1, account_sid=PARENT)
    desired = DesiredState(account_sid=CHILD, remove_fleet=True, deactivate_to_move=True)

    step = plan(observed, desired)

    assert step.kind == PlanKind.IMPOSSIBLE
    assert step.code == RuleCode.TRANSITION_NOT_ALLOWED


def test_active_sim_move_without_deactivate_first_is_refused() -> None:
    observed = SimState(status=SimStatus.ACTIVE, fleet_sid=F1, account_sid=PARENT)
    desired = DesiredState(account_sid=CHILD, fleet_sid=CHILD_FLEET, allow_inactive_move=True)

    assert plan(observed, desired).code == RuleCode.TRANSITION_NOT_ALLOWED
