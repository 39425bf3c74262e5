"""The rules of the Super SIM state machine and the planner, as pure functions (no I/O).

The emulator enforces these rules, the dry run checks rows against them and the workflows ask
the planner what to do next, so a rule lives here once. `docs/supersim-api.md` describes the API
behaviour these rules encode, the decisions taken where the public reference is silent, and the
few this module adds.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

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
from simops.core.wording import with_article

STATUS_TRANSITIONS: dict[SimStatus, frozenset[SimStatus]] = {
    SimStatus.NEW: frozenset({SimStatus.READY, SimStatus.ACTIVE}),
    SimStatus.READY: frozenset({SimStatus.ACTIVE, SimStatus.INACTIVE}),
    SimStatus.ACTIVE: frozenset({SimStatus.INACTIVE}),
    SimStatus.INACTIVE: frozenset({SimStatus.ACTIVE}),
    SimStatus.SCHEDULED: frozenset(),
}
"""Which requested status change is legal from which status (a same-status request is a no-op)."""

IMMEDIATE_STATUS_CHANGES = frozenset({(SimStatus.READY, SimStatus.ACTIVE)})
"""Status changes applied at once (200); every other legal change is asynchronous (202)."""


class RuleViolation(BaseModel):
    """Why the API refuses an update: the error code, HTTP status and message it answers with."""

    model_config = ConfigDict(frozen=True)

    code: RuleCode
    http_status: int = 400
    message: str


class UpdateEffect(BaseModel):
    """What an accepted update does: the state at once and, for asynchronous work, the final one."""

    model_config = ConfigDict(frozen=True)

    immediate: SimState
    final: SimState | None = None
    changed: bool

    @property
    def is_async(self) -> bool:
        """Whether the update leaves the SIM `scheduled` until later."""
        return self.final is not None


def is_status_change_allowed(current: SimStatus, requested: SimStatus) -> bool:
    """Whether a SIM in `current` may be asked for `requested` (equal statuses are no-ops)."""
    return requested == current or requested in STATUS_TRANSITIONS[current]


def is_status_change_async(current: SimStatus, requested: SimStatus) -> bool:
    """Whether a legal change from `current` to `requested` goes through `scheduled`."""
    return requested != current and (current, requested) not in IMMEDIATE_STATUS_CHANGES


def _violation(code: RuleCode, message: str, http_status: int = 400) -> RuleViolation:
    return RuleViolation(code=code, http_status=http_status, message=message)


def _evaluate_while_scheduled(
    current: SimState, update: SimUpdate, scheduled_target: SimState | None
) -> UpdateEffect | RuleViolation:
    heading_to = scheduled_target or current
    if update.status is not None and update.status != heading_to.status:
        return _violation(
            RuleCode.SCHEDULED_CONFLICT,
            "The SIM has an update in progress (status scheduled); its status cannot change "
            "until it completes",
            http_status=409,
        )
    if update.account_sid is not None and update.account_sid != current.account_sid:
        return _violation(
            RuleCode.SCHEDULED_CONFLICT,
            "A scheduled SIM cannot move between accounts until its update completes",
            http_status=409,
        )
    if update.fleet is not None and (update.fleet or None) != heading_to.fleet_sid:
        return _violation(
            RuleCode.SCHEDULED_CONFLICT,
            "The Fleet of a SIM cannot change while it is scheduled",
        )
    if update.unique_name is None:
        return UpdateEffect(immediate=current, final=scheduled_target, changed=False)
    unique_name = update.unique_name or None
    immediate = current.model_copy(update={"unique_name": unique_name})
    final = (
        scheduled_target.model_copy(update={"unique_name": unique_name})
        if scheduled_target is not None
        else None
    )
    return UpdateEffect(immediate=immediate, final=final, changed=immediate != current)


def _check_account_move(
    current: SimState, update: SimUpdate, inactive_move_allowed: bool
) -> RuleViolation | None:
    if current.status == SimStatus.INACTIVE and not inactive_move_allowed:
        return _violation(
            RuleCode.TRANSITION_NOT_ALLOWED,
            "Moving inactive SIMs between accounts is a private beta this account does not have",
        )
    if current.status not in (SimStatus.NEW, SimStatus.INACTIVE):
        return _violation(
            RuleCode.TRANSITION_NOT_ALLOWED,
            f"{with_article(current.status).capitalize()} SIM cannot move between accounts: "
            "only new SIMs (and inactive ones with the private beta) can",
        )
    if current.fleet_sid is not None and update.fleet is None:
        return _violation(
            RuleCode.FLEET_NOT_FOUND,
            "The SIM has a Fleet: a move must pass Fleet, a Fleet of the destination account "
            "or empty for none",
        )
    return None


def evaluate_update(
    current: SimState,
    update: SimUpdate,
    *,
    scheduled_target: SimState | None = None,
    inactive_move_allowed: bool = False,
) -> UpdateEffect | RuleViolation:
    """Apply the Super SIM rules to one update request.

    `update.fleet` must already be resolved to a Fleet SID of the account the SIM will belong
    to (or `NO_FLEET`); unknown Fleets and duplicate unique names are the caller's checks since
    they need the account's resources. `scheduled_target` is where a `scheduled` SIM is heading.
    """
    if update.status is not None and update.status not in REQUESTABLE_STATUSES:
        return _violation(
            RuleCode.TRANSITION_NOT_ALLOWED,
            f"Status cannot be set to {update.status}: only ready, active or inactive can be "
            "requested, and a SIM never returns to new",
        )
    if current.status == SimStatus.SCHEDULED:
        return _evaluate_while_scheduled(current, update, scheduled_target)

    moving = update.account_sid is not None and update.account_sid != current.account_sid
    if moving:
        move_violation = _check_account_move(current, update, inactive_move_allowed)
        if move_violation is not None:
            return move_violation

    status_after = current.status if update.status is None else update.status
    if not is_status_change_allowed(current.status, status_after):
        return _violation(
            RuleCode.TRANSITION_NOT_ALLOWED,
            f"A SIM cannot change from {current.status} to {status_after}",
        )

    fleet_after = current.fleet_sid if update.fleet is None else update.fleet or None
    if (
        update.fleet == NO_FLEET
        and current.fleet_sid is not None
        and current.status in ENABLED_STATUSES
    ):
        # Even a request that also deactivates the SIM: it is ready/active when it arrives.
        return _violation(
            RuleCode.FLEET_REMOVAL_NOT_ALLOWED,
            f"The Fleet of {with_article(current.status)} SIM cannot be removed",
        )
    if status_after in ENABLED_STATUSES and fleet_after is None:
        return _violation(
            RuleCode.FLEET_REQUIRED,
            f"{with_article(status_after).capitalize()} SIM needs a Fleet: pass Fleet in the "
            "same request",
        )

    status_async = is_status_change_async(current.status, status_after)
    fleet_async = fleet_after != current.fleet_sid and current.status in ENABLED_STATUSES
    unique_name = current.unique_name if update.unique_name is None else update.unique_name or None
    account_after = update.account_sid if moving and update.account_sid else current.account_sid
    final = SimState(
        status=status_after,
        fleet_sid=fleet_after,
        account_sid=account_after,
        unique_name=unique_name,
    )
    if not (status_async or fleet_async):
        return UpdateEffect(immediate=final, changed=final != current)
    immediate = final.model_copy(
        update={
            "status": SimStatus.SCHEDULED,
            "fleet_sid": current.fleet_sid if fleet_async else fleet_after,
        }
    )
    return UpdateEffect(immediate=immediate, final=final, changed=True)


def _fleet_mismatch(observed: SimState, desired: DesiredState) -> bool:
    if desired.remove_fleet:
        return observed.fleet_sid is not None
    return desired.fleet_sid is not None and desired.fleet_sid != observed.fleet_sid


def _desired_fleet_param(desired: DesiredState) -> str | None:
    if desired.remove_fleet:
        return NO_FLEET
    return desired.fleet_sid


def _unique_name_mismatch(observed: SimState, desired: DesiredState) -> bool:
    # `UniqueName=` empty clears the name, so an empty desired name is reached by having none.
    return desired.unique_name is not None and (desired.unique_name or None) != observed.unique_name


def is_converged(observed: SimState, desired: DesiredState) -> bool:
    """Whether the observed SIM already has every part of the desired state."""
    return (
        observed.status != SimStatus.SCHEDULED
        and (desired.status is None or desired.status == observed.status)
        and not _fleet_mismatch(observed, desired)
        and (desired.account_sid is None or desired.account_sid == observed.account_sid)
        and not _unique_name_mismatch(observed, desired)
    )


def check_applies_to(
    observed: SimState, desired: DesiredState, from_statuses: list[SimStatus] | None
) -> RuleViolation | None:
    """Why an operation limited to `from_statuses` (a reactivation: `inactive`) does not apply.

    A SIM already converged always passes: re-running an operation is never an error.
    """
    if not from_statuses or observed.status in from_statuses:
        return None
    if is_converged(observed, desired):
        return None
    names = ", ".join(status.value for status in from_statuses)
    return _violation(
        RuleCode.TRANSITION_NOT_ALLOWED,
        f"This operation applies to SIMs that are {names}; this SIM is {observed.status.value}",
    )


def _propose(observed: SimState, update: SimUpdate, desired: DesiredState) -> PlanStep:
    verdict = evaluate_update(observed, update, inactive_move_allowed=desired.allow_inactive_move)
    if isinstance(verdict, RuleViolation):
        return PlanStep(kind=PlanKind.IMPOSSIBLE, code=int(verdict.code), reason=verdict.message)
    # A call is worth a write only if the SIM can still reach the rest of the goal after it,
    # so that an impossible goal is found before any write.
    rest = plan(verdict.final or verdict.immediate, desired)
    if rest.kind == PlanKind.IMPOSSIBLE:
        return rest
    return PlanStep(kind=PlanKind.CALL, update=update, is_async=verdict.is_async)


def plan(observed: SimState, desired: DesiredState) -> PlanStep:
    """The next step that brings `observed` closer to `desired`.

    One call carries as much of the desired state as the rules allow in one request, so a SIM
    gets the fewest state-changing writes its path needs. An account move goes first and alone
    (moves are only legal for `new` and `inactive` SIMs), and only when the moved SIM can reach
    the rest of the goal: an impossible goal is reported before any write. Every proposed call
    has been checked against `evaluate_update`, so the planner never proposes what the API
    would refuse.
    """
    if observed.status == SimStatus.SCHEDULED:
        return PlanStep(kind=PlanKind.WAIT, reason="an update is in progress")
    if is_converged(observed, desired):
        return PlanStep(kind=PlanKind.DONE)

    rename = desired.unique_name if _unique_name_mismatch(observed, desired) else None
    fleet_param = _desired_fleet_param(desired) if _fleet_mismatch(observed, desired) else None

    if desired.account_sid is not None and desired.account_sid != observed.account_sid:
        if desired.deactivate_to_move and observed.status in ENABLED_STATUSES:
            # Only new and inactive SIMs move: deactivate first, the move follows once settled.
            return _propose(observed, SimUpdate(status=SimStatus.INACTIVE), desired)
        if fleet_param is None and observed.fleet_sid is not None:
            # A move must name the SIM's Fleet in the destination account, even an unchanged one.
            fleet_param = _desired_fleet_param(desired)
        move = SimUpdate(account_sid=desired.account_sid, fleet=fleet_param, unique_name=rename)
        return _propose(observed, move, desired)

    status_param = (
        desired.status if desired.status is not None and desired.status != observed.status else None
    )
    combined = _propose(
        observed, SimUpdate(status=status_param, fleet=fleet_param, unique_name=rename), desired
    )
    if (
        combined.kind == PlanKind.IMPOSSIBLE
        and status_param is not None
        and fleet_param is not None
    ):
        # Some pairs must go one after the other: an active SIM is deactivated before its Fleet
        # can be removed.
        status_first = _propose(
            observed, SimUpdate(status=status_param, unique_name=rename), desired
        )
        if status_first.kind == PlanKind.CALL:
            return status_first
    return combined
