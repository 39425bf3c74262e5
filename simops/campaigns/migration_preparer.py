"""What preparing a migration or a rollback adds to preparing a campaign (reads only).

- The Fleets of every account in play (the SIMs' accounts, the destination, a rollback's
  targets), each listed as that account (`simops.supersim.accounts`), so Fleet references are
  checked in the account they belong to before any write.
- The destination account checked: the parent itself, or a child the parent's credentials act
  for. One the credentials cannot act for makes every row invalid.
- A rollback's rows, read from the store of the migration it undoes: every row of it, each with
  where its SIM goes back to, or why nothing is restored.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from simops.campaigns.rows import PENDING, ReportRow
from simops.campaigns.rules import Failure, RestoreTarget
from simops.campaigns.sources import ReferenceKind, SourceRow
from simops.campaigns.spec import MIGRATION_ACTIONS
from simops.campaigns.store.campaign_store import CampaignStore
from simops.campaigns.store.errors import CampaignStoreError
from simops.campaigns.store.preparation import CopiedRow
from simops.core.codes import RuleCode
from simops.core.sim import OutcomeKind
from simops.core.wording import with_article
from simops.runtime.settings import SimopsSettings
from simops.supersim.accounts import account_access, parent_account_sid
from simops.supersim.client import SuperSimClient
from simops.supersim.errors import AuthenticationError
from simops.supersim.resources import Fleet

CHANGED_OUTCOMES = (OutcomeKind.CONVERGED.value, OutcomeKind.FAILED.value)
"""Outcomes of rows whose SIM the migration may have changed (the others made no write)."""


@dataclass
class AccountFleets:
    """The Fleets of every account listed, which accounts were, and what was found."""

    fleets: list[Fleet] = field(default_factory=list)
    listed: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    problem: Failure | None = None


async def list_account_fleets(
    settings: SimopsSettings,
    own_fleets: list[Fleet],
    accounts: Iterable[str],
    destination: str | None,
) -> AccountFleets:
    """List the Fleets of `accounts` and `destination` as each account; check the destination.

    `own_fleets` are the requester's (listed with its own credentials). An account nothing
    configured can act for is noted: its Fleets can then be named by SID only, and unchecked.
    """
    parent = parent_account_sid(settings)
    found = AccountFleets(fleets=list(own_fleets))
    found.listed = {fleet.account_sid for fleet in own_fleets}
    if parent is not None:
        found.listed.add(parent)
    others = sorted({*accounts, *([destination] if destination else [])} - found.listed)
    for account in others:
        await _list_as(settings, account, found, is_destination=account == destination)
    if destination is not None and destination in found.listed and destination == parent:
        found.notes.append(f"destination {destination}: the parent account")
    return found


async def _list_as(
    settings: SimopsSettings, account: str, found: AccountFleets, *, is_destination: bool
) -> None:
    role = "destination" if is_destination else "account"
    access = account_access(settings, account)
    if access is None:
        found.notes.append(
            f"{role} {account}: no credentials act for it (SIMOPS_TWILIO_AUTH_TOKENS, or the "
            "parent's Twilio credentials), so its Fleets cannot be listed or checked"
        )
        return
    try:
        async with SuperSimClient(access.settings) as client:
            fleets = await client.list_fleets()
    except AuthenticationError:
        if is_destination:
            found.problem = (
                int(RuleCode.INVALID_PARAMETER),
                f"AccountSid {account} is neither the parent account nor one of its child "
                "accounts: the configured credentials cannot act for it",
            )
        found.notes.append(f"{role} {account}: the configured credentials cannot act for it")
        return
    found.fleets += fleets
    found.listed.add(account)
    if is_destination:
        how = (
            "a child account (the parent's credentials act for it)"
            if access.proves_child
            else "reached with its own Auth Token; the API checks it is a child at the move"
        )
        found.notes.append(f"destination {account}: {how}, {len(fleets)} Fleets")


def _changed(row: ReportRow) -> bool:
    """Whether the migration changed the row's SIM: it wrote it (whatever the outcome: a
    retried batch, a failed one), or its state after differs from before."""
    if row.writes:
        return True
    if row.outcome not in CHANGED_OUTCOMES or row.after_status is None:
        return False
    before = (row.before_status, row.before_fleet, row.before_account)
    return before != (row.after_status, row.after_fleet, row.after_account)


def restore_row(row: ReportRow, migration_id: str) -> CopiedRow:
    """A rollback's row for one row of the migration: the same row number, the same SIM."""
    outcome = str(row.outcome)
    if row.sim_sid is None or row.outcome == PENDING:
        why = (
            f"row {row.row_no} of {migration_id} is still pending: finish or cancel it first"
            if row.outcome == PENDING
            else f"row {row.row_no} of {migration_id} named no SIM ({outcome}): nothing to restore"
        )
        return SourceRow(row.row_no, row.reference, problem=why), None, None
    source = SourceRow(row.row_no, row.sim_sid, kind=ReferenceKind.SID)
    if not _changed(row) or row.before_status is None or row.before_account is None:
        note = f"{migration_id} did not change this SIM (it ended {outcome}): nothing to restore"
        return source, None, note
    target = RestoreTarget(row.before_account, row.before_status, row.before_fleet)
    return source, target, None


def restore_rows(original: CampaignStore, migration_id: str) -> Iterator[CopiedRow]:
    """Every row of a migration as a rollback's row, with the same number in the store (and
    in the report, a migration's retry's row the number it had there)."""
    if original.spec.action not in MIGRATION_ACTIONS:
        raise CampaignStoreError(
            f"campaign {migration_id} is {with_article(original.spec.action.value)} "
            "campaign, not a migration: only migrations can be rolled back"
        )
    for row in original.earlier_rows():
        source, target, note = restore_row(row.report, migration_id)
        yield source._replace(row_no=row.row_no, source_row_no=row.report.row_no), target, note
