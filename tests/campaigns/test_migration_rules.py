"""Where a migration sends each SIM and where a rollback takes it back (pure rules)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from simops.campaigns.migration_rules import (
    MigrationTargets,
    RollbackTargets,
    billing_period_warning,
    current_billing_period,
)
from simops.campaigns.rules import (
    FleetIndex,
    FleetRef,
    ResolvedRow,
    RestoreTarget,
    RowInvalidError,
    path_label,
)
from simops.campaigns.sources import ReferenceKind
from simops.campaigns.spec import MigrationSpec
from simops.core.codes import RuleCode
from simops.core.sim import SimSnapshot, SimStatus
from simops.supersim.resources import BillingPeriod, BillingPeriodType

PARENT = "AC" + "1" * 32
CHILD = "AC" + "2" * 32
PARENT_DEFAULT = "HF" + "a" * 32
PARENT_EU = "HF" + "b" * 32
CHILD_DEFAULT = "HF" + "c" * 32
SIM = "HS" + "d" * 32
FLEETS = FleetIndex(
    [
        FleetRef(PARENT_DEFAULT, "default", PARENT),
        FleetRef(PARENT_EU, "iot-eu", PARENT),
        FleetRef(CHILD_DEFAULT, "default", CHILD),
    ],
    own_accounts=[PARENT, CHILD],
)
NOW = datetime(2026, 11, 15, tzinfo=UTC)


def sim(status: SimStatus, fleet_sid: str | None = PARENT_DEFAULT) -> SimSnapshot:
    return SimSnapshot(sid=SIM, status=status, fleet_sid=fleet_sid, account_sid=PARENT)


def row(fleet: str | None = None, target: RestoreTarget | None = None) -> ResolvedRow:
    return ResolvedRow(1, ReferenceKind.SID, fleet, None, None, target=target)


def migration(**fields: object) -> MigrationTargets:
    spec = MigrationSpec.model_validate({"to_account": CHILD, **fields})
    return MigrationTargets(spec, FLEETS)


def test_an_active_sim_is_deactivated_moved_and_reactivated_with_its_mapped_fleet() -> None:
    targets = migration(fleet_map={"default": "default"}, deactivate_first=True, reactivate=True)

    desired, note = targets.target(row(), sim(SimStatus.ACTIVE))

    assert desired.account_sid == CHILD and desired.fleet_sid == CHILD_DEFAULT
    assert desired.status is SimStatus.ACTIVE
    assert desired.deactivate_to_move and desired.allow_inactive_move
    assert note is None


def test_a_ready_sim_comes_back_active_and_says_so() -> None:
    targets = migration(default_fleet="default", deactivate_first=True, reactivate=True)

    desired, note = targets.target(row(), sim(SimStatus.READY))

    assert desired.status is SimStatus.ACTIVE
    assert note is not None and "was ready" in note


def test_without_reactivate_a_deactivated_sim_stays_inactive() -> None:
    desired, _ = migration(no_fleet=True, deactivate_first=True).target(
        row(), sim(SimStatus.ACTIVE)
    )

    assert desired.status is SimStatus.INACTIVE and desired.remove_fleet


@pytest.mark.parametrize(
    ("status", "flag"),
    [
        (SimStatus.INACTIVE, "--allow-inactive-move"),
        (SimStatus.ACTIVE, "--deactivate-first"),
        (SimStatus.READY, "--deactivate-first"),
    ],
)
def test_a_status_that_needs_a_flag_is_refused_naming_it(status: SimStatus, flag: str) -> None:
    with pytest.raises(RowInvalidError) as refused:
        migration(no_fleet=True).target(row(), sim(status))

    assert refused.value.code == RuleCode.TRANSITION_NOT_ALLOWED
    assert flag in refused.value.reason


def test_a_new_sim_moves_as_it_is_and_an_inactive_one_needs_only_the_beta() -> None:
    fresh, _ = migration().target(row(), sim(SimStatus.NEW, fleet_sid=None))
    inactive, _ = migration(allow_inactive_move=True, fleet_map={PARENT_DEFAULT: ""}).target(
        row(), sim(SimStatus.INACTIVE)
    )

    assert (fresh.status, fresh.fleet_sid, fresh.remove_fleet) == (None, None, False)
    assert not fresh.deactivate_to_move
    assert inactive.remove_fleet and inactive.allow_inactive_move
    assert not inactive.deactivate_to_move and inactive.status is None


def test_a_sim_already_in_the_destination_needs_nothing() -> None:
    there = sim(SimStatus.ACTIVE).model_copy(update={"account_sid": CHILD})

    desired, note = migration().target(row(), there)

    assert desired.account_sid == CHILD and desired.status is None
    assert note is not None and "already in the destination" in note


def test_fleet_map_gaps_and_foreign_fleets_are_refused() -> None:
    with pytest.raises(RowInvalidError, match="--fleet-map iot-eu=FLEET"):
        migration(fleet_map={"default": "default"}).target(row(), sim(SimStatus.NEW, PARENT_EU))
    with pytest.raises(RowInvalidError, match=f"belongs to account {PARENT}"):
        migration(fleet_map={"iot-eu": PARENT_EU}).target(row(), sim(SimStatus.NEW, PARENT_EU))
    with pytest.raises(RowInvalidError, match="the row's fleet column"):
        migration().target(row(fleet="nope"), sim(SimStatus.NEW))


def test_an_unlisted_destination_cannot_have_its_fleets_checked() -> None:
    targets = MigrationTargets(
        MigrationSpec(to_account=CHILD, default_fleet=CHILD_DEFAULT),
        FleetIndex([FleetRef(PARENT_DEFAULT, "default", PARENT)], own_accounts=[PARENT]),
    )

    with pytest.raises(RowInvalidError, match="cannot be listed"):
        targets.target(row(), sim(SimStatus.NEW))


def test_a_migration_level_problem_makes_every_row_invalid() -> None:
    spec = MigrationSpec(to_account=CHILD, no_fleet=True)
    targets = MigrationTargets(spec, FLEETS, problem=(20001, "not a child"))

    with pytest.raises(RowInvalidError, match="not a child"):
        targets.target(row(), sim(SimStatus.NEW))


def test_a_rollback_restores_account_fleet_and_status() -> None:
    moved = sim(SimStatus.ACTIVE, CHILD_DEFAULT).model_copy(update={"account_sid": CHILD})
    target = RestoreTarget(PARENT, SimStatus.ACTIVE, PARENT_DEFAULT)

    desired, note = RollbackTargets(FLEETS).target(row(target=target), moved)

    assert (desired.account_sid, desired.fleet_sid, desired.status) == (
        PARENT,
        PARENT_DEFAULT,
        SimStatus.ACTIVE,
    )
    assert desired.deactivate_to_move and note is None
    label = path_label(moved, desired, FLEETS)
    assert label.startswith("active: deactivate → move to")
    assert label.endswith("→ reactivate")


def test_a_rollback_says_what_it_cannot_restore() -> None:
    activated = sim(SimStatus.ACTIVE, CHILD_DEFAULT).model_copy(update={"account_sid": CHILD})
    was_new = RestoreTarget(PARENT, SimStatus.NEW, None)
    was_ready = RestoreTarget(PARENT, SimStatus.READY, PARENT_DEFAULT)
    rollback = RollbackTargets(FLEETS)

    new_desired, new_note = rollback.target(row(target=was_new), activated)
    _, ready_note = rollback.target(row(target=was_ready), activated)
    untouched = rollback.target(
        ResolvedRow(1, ReferenceKind.SID, None, None, None, note="not changed"), activated
    )

    assert not new_desired.deactivate_to_move and new_desired.remove_fleet
    assert new_note is not None and "never returns to new" in new_note
    assert ready_note is not None and "was ready" in ready_note
    assert untouched.desired.is_empty() and untouched.note == "not changed"


def period(start: datetime, kind: BillingPeriodType = BillingPeriodType.ACTIVE) -> BillingPeriod:
    return BillingPeriod(
        sid="HB" + "e" * 32,
        account_sid=PARENT,
        sim_sid=SIM,
        start_time=start,
        end_time=start + timedelta(days=30),
        period_type=kind,
    )


def test_the_current_billing_period_is_the_running_one_and_open_until_it_ends() -> None:
    old, running = period(NOW - timedelta(days=40)), period(NOW - timedelta(days=5))

    current = current_billing_period([running, old], NOW)
    ended = current_billing_period([old], NOW)

    assert current.start_time == running.start_time and current.is_open
    warning = billing_period_warning(current)
    assert warning is not None and "data limit" in warning
    assert ended.start_time == old.start_time and not ended.is_open
    assert billing_period_warning(ended) is None
    assert current_billing_period([], NOW).start_time is None
