"""Where an account migration sends each SIM, and where its rollback takes it back (pure).

A migration is a campaign (`CampaignAction.MOVE`) whose target depends on the SIM: its status
decides the path (`new` moves; `inactive` moves with the private beta; `ready` and `active`
move only when deactivated first, and come back `active` with `reactivate`), its Fleet decides
the destination Fleet through the Fleet map. A rollback (`CampaignAction.ROLLBACK`) takes each
SIM a migration changed back to the account, Fleet and status it had before, as far as the
rules allow. The transition rules themselves are `simops.core.transitions'`; these classes only say
where a SIM must go and why it cannot.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from simops.campaigns.rows import BillingPeriodReading
from simops.campaigns.rules import (
    Failure,
    FleetIndex,
    ResolvedRow,
    RestoreTarget,
    RowInvalidError,
    Target,
    remember,
)
from simops.campaigns.spec import MigrationSpec
from simops.core.codes import RuleCode
from simops.core.sim import ENABLED_STATUSES, NO_FLEET, DesiredState, SimSnapshot, SimStatus
from simops.core.wording import with_article
from simops.supersim.resources import BillingPeriod

ALREADY_THERE = "already in the destination account: nothing to move"
READY_COMES_BACK_ACTIVE = (
    "was ready: a deactivated SIM can only be reactivated to active (ready is reachable only "
    "from new), so it comes back active"
)


class MigrationTargets:
    """The target of every SIM of one migration: the destination, its Fleet, its status.

    `problem`, when the migration as a whole cannot run (the destination is not an account
    the parent's credentials act for), makes every row invalid with that reason.
    """

    def __init__(
        self, migration: MigrationSpec, fleets: FleetIndex, problem: Failure | None = None
    ) -> None:
        self._migration = migration
        self._fleets = fleets
        self._problem = problem
        self._targets: dict[tuple[object, ...], Target | Failure] = {}

    @property
    def from_statuses(self) -> tuple[SimStatus, ...] | None:
        """A migration applies to SIMs of any status (the path depends on it)."""
        return None

    def target(self, row: ResolvedRow, sim: SimSnapshot) -> Target:
        """Where the SIM goes; `RowInvalidError` when its status or Fleet forbids the move."""
        key = (row.fleet, sim.status, sim.fleet_sid, sim.account_sid)
        target = self._targets.get(key)
        if target is None:
            try:
                target = self._make_target(row.fleet, sim)
            except RowInvalidError as error:
                target = (error.code, error.reason)
            remember(self._targets, key, target)
        if isinstance(target, Target):
            return target
        raise RowInvalidError(*target)

    def _make_target(self, row_fleet: str | None, sim: SimSnapshot) -> Target:
        if self._problem is not None:
            raise RowInvalidError(*self._problem)
        migration = self._migration
        if sim.account_sid == migration.to_account:
            return Target(DesiredState(account_sid=migration.to_account), ALREADY_THERE)
        self._check_status(sim.status)
        enabled = sim.status in ENABLED_STATUSES
        fleet_sid, remove_fleet = self._destination_fleet(row_fleet, sim)
        status: SimStatus | None = None
        note: str | None = None
        if enabled:
            status = SimStatus.ACTIVE if migration.reactivate else SimStatus.INACTIVE
            if migration.reactivate and sim.status is SimStatus.READY:
                note = READY_COMES_BACK_ACTIVE
        desired = DesiredState(
            status=status,
            fleet_sid=fleet_sid,
            remove_fleet=remove_fleet,
            account_sid=migration.to_account,
            # The deactivated SIM moves as an inactive one: that needs the private beta too.
            allow_inactive_move=enabled or migration.allow_inactive_move,
            deactivate_to_move=enabled,
        )
        return Target(desired, note)

    def _check_status(self, status: SimStatus) -> None:
        if status is SimStatus.SCHEDULED:
            raise RowInvalidError(
                RuleCode.SCHEDULED_CONFLICT,
                "the SIM has an update in progress, and its path depends on the status it "
                "settles in: migrate it once it has settled",
            )
        if status is SimStatus.INACTIVE and not self._migration.allow_inactive_move:
            raise RowInvalidError(
                RuleCode.TRANSITION_NOT_ALLOWED,
                "an inactive SIM moves between accounts only with the private beta: "
                "--allow-inactive-move if the account has it",
            )
        if status in ENABLED_STATUSES and not self._migration.deactivate_first:
            raise RowInvalidError(
                RuleCode.TRANSITION_NOT_ALLOWED,
                f"{with_article(status.value)} SIM cannot move between accounts: "
                "--deactivate-first deactivates it before the move (and --reactivate brings it "
                "back active)",
            )

    def _destination_fleet(
        self, row_fleet: str | None, sim: SimSnapshot
    ) -> tuple[str | None, bool]:
        """The destination Fleet's SID, or whether to pass no Fleet (the second item)."""
        migration = self._migration
        if row_fleet:
            return self._resolve(row_fleet, "the row's fleet column"), False
        if sim.fleet_sid is None:
            # Nothing to map: a SIM without a Fleet moves without one.
            return None, False
        mapped, source = self._mapping(sim.fleet_sid)
        if mapped is None and migration.default_fleet is not None:
            mapped, source = migration.default_fleet, "--default-fleet"
        if mapped is None:
            if migration.no_fleet:
                return None, True
            name = self._fleets.label(sim.fleet_sid)
            reference = self._fleet_name(sim.fleet_sid) or sim.fleet_sid
            raise RowInvalidError(
                RuleCode.FLEET_NOT_FOUND,
                f"the SIM's Fleet {name} has no mapping to a Fleet of "
                f"{migration.to_account}: add --fleet-map {reference}=FLEET, or give "
                "--default-fleet FLEET or --no-fleet",
            )
        if mapped == NO_FLEET:
            return None, True
        return self._resolve(mapped, source), False

    def _fleet_name(self, fleet_sid: str) -> str | None:
        fleet = self._fleets.fleet(fleet_sid)
        return fleet.unique_name if fleet is not None else None

    def _mapping(self, fleet_sid: str) -> tuple[str | None, str]:
        """The destination reference the Fleet map gives a source Fleet (by SID, then name)."""
        fleet_map = self._migration.fleet_map
        for old in (fleet_sid, self._fleet_name(fleet_sid)):
            if old is not None and old in fleet_map:
                return fleet_map[old], f"--fleet-map {old}={fleet_map[old]}"
        return None, ""

    def _resolve(self, reference: str, source: str) -> str:
        destination = self._migration.to_account
        if not self._fleets.is_listed(destination):
            raise RowInvalidError(
                RuleCode.FLEET_NOT_FOUND,
                f"the Fleets of {destination} cannot be listed with the configured "
                f"credentials, so {source} cannot be checked: configure the account's Auth "
                "Token (SIMOPS_TWILIO_AUTH_TOKENS) or the parent's Twilio credentials",
            )
        try:
            return self._fleets.resolve(reference, destination)
        except RowInvalidError as error:
            raise RowInvalidError(error.code, f"{source}: {error.reason}") from None


class RollbackTargets:
    """The target of every row of a rollback: back to what the SIM was before the migration.

    A SIM that was `ready` or `active` is deactivated to move back and reactivated (`ready`
    comes back `active`); an `inactive` one moves back inactive; a `new` one moves back only
    while it is still `new` or inactive (a SIM never returns to new). A row whose SIM the
    migration did not change gets nothing (`already_converged`, with the reason as its note).
    """

    def __init__(self, fleets: FleetIndex) -> None:
        self._fleets = fleets

    @property
    def from_statuses(self) -> tuple[SimStatus, ...] | None:
        """A rollback applies to SIMs of any status."""
        return None

    def target(self, row: ResolvedRow, sim: SimSnapshot) -> Target:
        """Where the SIM goes back to, with a note for what cannot be restored."""
        restore = row.target
        if restore is None:
            return Target(DesiredState(), row.note)
        was_enabled = restore.status in ENABLED_STATUSES
        status: SimStatus | None = None
        if was_enabled:
            status = SimStatus.ACTIVE
        elif restore.status is SimStatus.INACTIVE:
            status = SimStatus.INACTIVE
        desired = DesiredState(
            status=status,
            fleet_sid=self._fleet(restore),
            remove_fleet=restore.fleet_sid is None,
            account_sid=restore.account_sid,
            allow_inactive_move=True,
            deactivate_to_move=restore.status is not SimStatus.NEW,
        )
        return Target(desired, _restore_note(restore, sim))

    def _fleet(self, restore: RestoreTarget) -> str | None:
        if restore.fleet_sid is None:
            return None
        return self._fleets.resolve(restore.fleet_sid, restore.account_sid)


def _restore_note(restore: RestoreTarget, sim: SimSnapshot) -> str | None:
    if restore.status is SimStatus.READY:
        return READY_COMES_BACK_ACTIVE
    if restore.status is SimStatus.NEW and sim.status is not SimStatus.NEW:
        return (
            f"was new before the migration and is {sim.status.value} now: a SIM never returns "
            "to new"
        )
    return None


def current_billing_period(periods: Sequence[BillingPeriod], now: datetime) -> BillingPeriodReading:
    """The period running at `now` (else the latest one), and whether it was still open."""
    if not periods:
        return BillingPeriodReading()
    running = [period for period in periods if period.start_time <= now < period.end_time]
    current = running[0] if running else max(periods, key=lambda period: period.start_time)
    return BillingPeriodReading(
        start_time=current.start_time, end_time=current.end_time, is_open=current.end_time > now
    )


def billing_period_warning(reading: BillingPeriodReading | None) -> str | None:
    """What the report says of a period still open when the SIM moved (else nothing)."""
    if reading is None or not reading.is_open or reading.start_time is None:
        return None
    end = f" until {reading.end_time.isoformat()}" if reading.end_time is not None else ""
    return (
        f"billing period open when the SIM moved (from {reading.start_time.isoformat()}{end}): "
        "its usage since the period started counts against the data limit of its Fleet in the "
        "new account"
    )
