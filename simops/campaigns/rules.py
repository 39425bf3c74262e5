"""The checks and the plan of campaign rows, as pure functions of a snapshot (no I/O).

The preparing activity resolves every row's SIM from a snapshot of the account and hands the
rows here, a chunk at a time, with what the chunk cannot see by itself (which earlier rows took
a SIM or a unique name). The verdict says whether the row is valid, where the SIM must go, and
the change it needs, worded for the dry run. The transition rules are `simops.core.transitions`'.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from simops.campaigns.sources import ReferenceKind
from simops.campaigns.spec import CampaignAction
from simops.core.codes import RuleCode
from simops.core.sim import (
    DesiredState,
    PlanKind,
    SimSnapshot,
    SimState,
    SimStatus,
    SimUpdate,
    is_sid,
)
from simops.core.transitions import RuleViolation, check_applies_to, evaluate_update, plan

ALREADY_CONVERGED = "already converged"
"""The change of a valid row whose SIM needs none."""

ACTION_STATUS: dict[CampaignAction, SimStatus | None] = {
    CampaignAction.ACTIVATE: SimStatus.ACTIVE,
    CampaignAction.READY: SimStatus.READY,
    CampaignAction.DEACTIVATE: SimStatus.INACTIVE,
    CampaignAction.REACTIVATE: SimStatus.ACTIVE,
    CampaignAction.SET_FLEET: None,
    CampaignAction.RENAME: None,
}
"""The status each plain action asks for (`None`: the status is left as it is); migrations
(`move`, `rollback`) decide per SIM (`simops.campaigns.migration_rules`)."""

ACTION_FROM_STATUSES: dict[CampaignAction, tuple[SimStatus, ...]] = {
    CampaignAction.REACTIVATE: (SimStatus.INACTIVE,),
}
"""Actions that apply only to SIMs in some statuses (a reactivation: inactive SIMs)."""

REFERENCE_NAMES = {
    ReferenceKind.SID: "SID",
    ReferenceKind.ICCID: "ICCID",
    ReferenceKind.UNIQUE_NAME: "unique name",
}


Failure = tuple[int, str]
"""Why a row is invalid: the error code and the reason."""

MAX_REMEMBERED = 10_000
MAX_PATH_STEPS = 6
"""More calls than any path needs (deactivate, move, reactivate): a guard, not a limit."""


def remember(cache: dict[Any, Any], key: object, value: object) -> None:
    """Keep `value` in a bounded cache (emptied when full: the keys repeat in runs)."""
    if len(cache) >= MAX_REMEMBERED:
        cache.clear()
    cache[key] = value


class RestoreTarget(NamedTuple):
    """Where a rollback takes a SIM back to: its account, status and Fleet before a migration."""

    account_sid: str
    status: SimStatus
    fleet_sid: str | None


class ResolvedRow(NamedTuple):
    """A row whose reference is well-formed, and the SIM it names in the snapshot (if any).

    `target` and `note` are a rollback's: where the row's SIM goes back to (`None`: the
    migration did not change it), and what the report says of the row.
    """

    row_no: int
    kind: ReferenceKind
    fleet: str | None
    unique_name: str | None
    sim: SimSnapshot | None
    target: RestoreTarget | None = None
    note: str | None = None


class RowVerdict(NamedTuple):
    """What preparation decided for one row: valid with a planned change, or invalid."""

    row_no: int
    sim_sid: str | None = None
    before: SimSnapshot | None = None
    desired: DesiredState | None = None
    from_statuses: tuple[SimStatus, ...] | None = None
    change: str | None = None
    invalid_code: int | None = None
    invalid_reason: str | None = None
    note: str | None = None
    path: str | None = None
    """The SIM's path (`path_key`) of a valid row: empty when it needs no call now."""


class PlannedChange(NamedTuple):
    """The change a valid row needs, worded for the dry run, and its path (`path_key`)."""

    change: str
    path: str


class Target(NamedTuple):
    """Where a row's SIM must go, and what the report should say of it (`note`)."""

    desired: DesiredState
    note: str | None = None


class FleetRef(NamedTuple):
    """A Fleet as the snapshot keeps it."""

    sid: str
    unique_name: str | None
    account_sid: str


class RowInvalidError(Exception):
    """A row cannot be run; carries the error code and the reason the report shows."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = int(code)
        self.reason = reason


class FleetIndex:
    """The Fleets the credentials can list, to resolve a Fleet reference in a SIM's account.

    A Fleet SID of an account whose Fleets cannot be listed (a child account's, read with the
    parent's credentials) is passed on as given: the API checks it when the update is sent.
    """

    def __init__(self, fleets: Iterable[FleetRef], own_accounts: Iterable[str]) -> None:
        self._by_sid: dict[str, FleetRef] = {}
        self._by_name: dict[str, list[FleetRef]] = {}
        for fleet in fleets:
            self._by_sid[fleet.sid] = fleet
            if fleet.unique_name:
                self._by_name.setdefault(fleet.unique_name, []).append(fleet)
        self._listed_accounts = {fleet.account_sid for fleet in self._by_sid.values()}
        self._listed_accounts.update(own_accounts)

    def is_listed(self, account_sid: str) -> bool:
        """Whether the Fleets of `account_sid` were listed (so a reference can be checked)."""
        return account_sid in self._listed_accounts

    def fleet(self, fleet_sid: str) -> FleetRef | None:
        """The listed Fleet with this SID, if any."""
        return self._by_sid.get(fleet_sid)

    def resolve(self, reference: str, account_sid: str) -> str:
        """The SID of Fleet `reference` (SID or unique name) in `account_sid`, or raise 83006."""
        by_sid = self._by_sid.get(reference)
        named = self._by_name.get(reference, [])
        found = by_sid or next((f for f in named if f.account_sid == account_sid), None)
        if found is not None and found.account_sid == account_sid:
            return found.sid
        foreign = found or (named[0] if named else None)
        if foreign is not None:
            raise RowInvalidError(
                RuleCode.FLEET_NOT_FOUND,
                f"Fleet {reference!r} belongs to account {foreign.account_sid}, not to the "
                f"SIM's account {account_sid}",
            )
        if account_sid not in self._listed_accounts:
            if is_sid(reference, "HF"):
                return reference
            raise RowInvalidError(
                RuleCode.FLEET_NOT_FOUND,
                f"Fleet {reference!r} is not a Fleet these credentials can list: give the Fleet "
                f"SID of a Fleet of account {account_sid}",
            )
        raise RowInvalidError(
            RuleCode.FLEET_NOT_FOUND, f"no Fleet {reference!r} in account {account_sid}"
        )

    def label(self, fleet_sid: str | None) -> str:
        """A Fleet as the dry run shows it: `iot-eu (HF…)`, its SID, or `none`."""
        if fleet_sid is None:
            return "none"
        fleet = self._by_sid.get(fleet_sid)
        if fleet is None or not fleet.unique_name:
            return fleet_sid
        return f"{fleet.unique_name} ({fleet_sid})"


def change_label(before: SimSnapshot, desired: DesiredState, fleets: FleetIndex) -> str:
    """The change a row needs, e.g. `new → active, fleet none → iot-eu (HF…)`.

    A move between accounts is told as its path (`path_label`).
    """
    if desired.account_sid is not None and desired.account_sid != before.account_sid:
        return path_label(before, desired, fleets)
    parts: list[str] = []
    if desired.status is not None and desired.status != before.status:
        parts.append(f"{before.status.value} → {desired.status.value}")
    target_fleet = None if desired.remove_fleet else desired.fleet_sid
    if (desired.remove_fleet or desired.fleet_sid) and target_fleet != before.fleet_sid:
        parts.append(f"fleet {fleets.label(before.fleet_sid)} → {fleets.label(target_fleet)}")
    if desired.unique_name is not None and desired.unique_name != before.unique_name:
        parts.append("rename")
    return ", ".join(parts) or "wait for the update in progress"


def call_kinds(state: SimState, update: SimUpdate) -> list[str]:
    """What one call does, in words without its targets: `deactivate`, `reactivate`,
    `to active`, `move`, `fleet`, `rename`. A move's Fleet is part of the move (a move always
    names the Fleet the SIM gets in the destination, or none)."""
    kinds: list[str] = []
    if update.status is SimStatus.INACTIVE:
        kinds.append("deactivate")
    elif update.status is not None:
        kinds.append(
            "reactivate" if state.status is SimStatus.INACTIVE else f"to {update.status.value}"
        )
    if update.account_sid is not None:
        kinds.append("move")
    elif update.fleet is not None:
        kinds.append("fleet")
    if update.unique_name is not None:
        kinds.append("rename")
    return kinds


def _call_label(state: SimState, update: SimUpdate, fleets: FleetIndex) -> str:
    words: list[str] = []
    for kind in call_kinds(state, update):
        if kind == "move":
            words.append(f"move to {update.account_sid}")
        elif kind != "fleet":
            words.append(kind)
        if kind in ("move", "fleet") and update.fleet is not None:
            target = fleets.label(update.fleet or None)
            words.append(f"fleet {fleets.label(state.fleet_sid)} → {target}")
    return " ".join(words)


def planned_calls(before: SimSnapshot, desired: DesiredState) -> list[tuple[SimState, SimUpdate]]:
    """The calls the planner takes a SIM through from `before`, each with the state it is sent
    in and checked against the rules. None for a SIM already converged, or `scheduled` (its
    path depends on the status it settles in)."""
    state = before.state()
    calls: list[tuple[SimState, SimUpdate]] = []
    for _ in range(MAX_PATH_STEPS):
        step = plan(state, desired)
        if step.kind is not PlanKind.CALL or step.update is None:
            break
        verdict = evaluate_update(
            state, step.update, inactive_move_allowed=desired.allow_inactive_move
        )
        if isinstance(verdict, RuleViolation):
            break
        calls.append((state, step.update))
        state = verdict.final or verdict.immediate
    return calls


def path_key(before: SimSnapshot, desired: DesiredState) -> str:
    """A SIM's path as a short stable key, its calls' kinds in order, e.g.
    `deactivate,move,reactivate` or `to active+fleet`; empty when it needs no call now. The
    canary takes SIMs of every key (`CampaignStore.canary_rows`)."""
    return ",".join("+".join(call_kinds(*call)) for call in planned_calls(before, desired))


def path_text(key: str) -> str:
    """A path key as people read it: `deactivate → move → reactivate`."""
    return " → ".join(key.split(",")) if key else "no write"


def path_label(before: SimSnapshot, desired: DesiredState, fleets: FleetIndex) -> str:
    """The calls the planner takes a SIM through, e.g. `active: deactivate → move to AC… fleet
    default (HF…) → default (HF…) → reactivate` (each one checked against the rules)."""
    calls = [_call_label(state, update, fleets) for state, update in planned_calls(before, desired)]
    return f"{before.status.value}: {' → '.join(calls) or 'wait for the update in progress'}"


class Targets(Protocol):
    """Where each row's SIM must go: a plain action's, a migration's or a rollback's rule."""

    @property
    def from_statuses(self) -> tuple[SimStatus, ...] | None:
        """The statuses the campaign applies to (`None`: any)."""

    def target(self, row: ResolvedRow, sim: SimSnapshot) -> Target:
        """The row's target; `RowInvalidError` when the row cannot be run."""


class ActionTargets:
    """The target of a plain action: its status, the row's or the campaign's Fleet, a name."""

    def __init__(
        self, action: CampaignAction, campaign_fleet: str | None, fleets: FleetIndex
    ) -> None:
        self._action = action
        self._campaign_fleet = campaign_fleet
        self._fleets = fleets
        # Most rows share a handful of desired states: each is built once (bounded, since
        # renames share nothing).
        self._desired: dict[tuple[str | None, str], DesiredState | Failure] = {}

    @property
    def from_statuses(self) -> tuple[SimStatus, ...] | None:
        """The statuses the action applies to (a reactivation: inactive SIMs)."""
        return ACTION_FROM_STATUSES.get(self._action)

    def target(self, row: ResolvedRow, sim: SimSnapshot) -> Target:
        """The action's status, the Fleet and the new name, in the SIM's account."""
        return Target(self.desired_for(row, sim.account_sid))

    def desired_for(self, row: ResolvedRow, account_sid: str) -> DesiredState:
        """Where the row's SIM must go: the action's status, the Fleet and the new name."""
        if row.unique_name is not None:
            return self._make_desired(row.fleet, account_sid, row.unique_name)
        key = (row.fleet, account_sid)
        desired = self._desired.get(key)
        if desired is None:
            try:
                desired = self._make_desired(row.fleet, account_sid, None)
            except RowInvalidError as error:
                desired = (error.code, error.reason)
            remember(self._desired, key, desired)
        if isinstance(desired, tuple):
            raise RowInvalidError(*desired)
        return desired

    def _make_desired(
        self, row_fleet: str | None, account_sid: str, unique_name: str | None
    ) -> DesiredState:
        fleet_reference = row_fleet or self._campaign_fleet
        if self._action is CampaignAction.SET_FLEET and fleet_reference is None:
            raise RowInvalidError(
                RuleCode.MISSING_PARAMETER, "set-fleet needs a Fleet: --fleet or a fleet column"
            )
        if self._action is CampaignAction.RENAME and unique_name is None:
            raise RowInvalidError(
                RuleCode.MISSING_PARAMETER, "rename needs a new name in the unique_name column"
            )
        return DesiredState(
            status=ACTION_STATUS[self._action],
            fleet_sid=(
                self._fleets.resolve(fleet_reference, account_sid) if fleet_reference else None
            ),
            unique_name=unique_name,
        )


@dataclass
class Claims:
    """What rows before the current one took: SIMs (by SID) and new unique names.

    `sims` maps a SIM SID to the first row that named it; `names` maps (account, unique name)
    to the first valid row that renames a SIM to it; `holders` maps (account, unique name) to
    the SIM that has the name in the snapshot.
    """

    sims: dict[str, int] = field(default_factory=dict)
    names: dict[tuple[str, str], int] = field(default_factory=dict)
    holders: dict[tuple[str, str], str] = field(default_factory=dict)


class RowJudge:
    """Judges the rows of one campaign: where each SIM must go (`targets`), and whether the
    rules let it get there."""

    def __init__(self, targets: Targets, fleets: FleetIndex) -> None:
        self._targets = targets
        self._fleets = fleets
        self._from_statuses = targets.from_statuses
        # Most rows of a campaign share a handful of desired states and SIM states: what was
        # decided once for a combination is reused (bounded).
        self._changes: dict[tuple[object, ...], PlannedChange | Failure] = {}

    def judge_all(self, rows: Sequence[ResolvedRow], claims: Claims) -> list[RowVerdict]:
        """Verdicts of consecutive rows; `claims` (earlier rows') grows with these rows'."""
        return [self._judge_and_claim(row, claims) for row in rows]

    def _judge_and_claim(self, row: ResolvedRow, claims: Claims) -> RowVerdict:
        sim = row.sim
        if sim is None:
            return RowVerdict(
                row.row_no,
                invalid_code=int(RuleCode.NOT_FOUND),
                invalid_reason=f"no SIM with this {REFERENCE_NAMES[row.kind]} in the account",
            )
        first = claims.sims.setdefault(sim.sid, row.row_no)
        try:
            if first != row.row_no:
                raise RowInvalidError(
                    RuleCode.INVALID_PARAMETER, f"duplicate of row {first} (the same SIM)"
                )
            verdict = self._judge(row, sim, claims)
        except RowInvalidError as error:
            return RowVerdict(
                row.row_no, sim.sid, sim, invalid_code=error.code, invalid_reason=error.reason
            )
        if verdict.desired is not None and verdict.desired.unique_name is not None:
            claims.names.setdefault((sim.account_sid, verdict.desired.unique_name), row.row_no)
        return verdict

    def change_for(self, sim: SimSnapshot, desired: DesiredState) -> PlannedChange:
        """The change the SIM needs (or `already converged`) and its path; `RowInvalidError`
        if forbidden."""
        relevant_name = sim.unique_name if desired.unique_name is not None else None
        key = (desired, sim.status, sim.fleet_sid, sim.account_sid, relevant_name)
        change = self._changes.get(key)
        if change is None:
            change = self._plan_change(sim, desired)
            remember(self._changes, key, change)
        if not isinstance(change, PlannedChange):
            raise RowInvalidError(*change)
        return change

    def _plan_change(self, sim: SimSnapshot, desired: DesiredState) -> PlannedChange | Failure:
        observed = sim.state()
        statuses = list(self._from_statuses) if self._from_statuses else None
        violation = check_applies_to(observed, desired, statuses)
        if violation is not None:
            return int(violation.code), violation.message
        step = plan(observed, desired)
        if step.kind is PlanKind.IMPOSSIBLE:
            return (
                step.code or int(RuleCode.TRANSITION_NOT_ALLOWED),
                step.reason or "the Super SIM rules forbid this change",
            )
        if step.kind is PlanKind.DONE:
            return PlannedChange(ALREADY_CONVERGED, "")
        return PlannedChange(change_label(sim, desired, self._fleets), path_key(sim, desired))

    def _check_new_name(self, sim: SimSnapshot, name: str, claims: Claims) -> None:
        if name == sim.unique_name:
            return
        key = (sim.account_sid, name)
        holder = claims.holders.get(key)
        if holder is not None and holder != sim.sid:
            raise RowInvalidError(
                RuleCode.DUPLICATE_UNIQUE_NAME,
                f"SIM {holder} of the account has this unique name already (a campaign runs "
                "its rows in any order, so it cannot pass a name on)",
            )
        claimed_by = claims.names.get(key)
        if claimed_by is not None:
            raise RowInvalidError(
                RuleCode.DUPLICATE_UNIQUE_NAME,
                f"row {claimed_by} renames another SIM of the account to this unique name",
            )

    def _judge(self, row: ResolvedRow, sim: SimSnapshot, claims: Claims) -> RowVerdict:
        desired, note = self._targets.target(row, sim)
        if desired.unique_name is not None:
            self._check_new_name(sim, desired.unique_name, claims)
        change, path = self.change_for(sim, desired)
        return RowVerdict(
            row.row_no,
            sim.sid,
            sim,
            desired=desired,
            from_statuses=self._from_statuses,
            change=change,
            note=note,
            path=path,
        )
