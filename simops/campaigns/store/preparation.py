"""What preparing a campaign keeps in its database: rows as imported, the account snapshot,
the verdicts, and how far preparation got (it resumes from there after a crash).

The snapshot (`sims`, `names`) is deleted once the campaign is prepared, and its pages given
back: afterwards the store holds the user's own references and the SIMs they name, not the
whole account.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from functools import partial
from typing import NamedTuple

from simops.campaigns.rows import PrepareResult
from simops.campaigns.rules import (
    ALREADY_CONVERGED,
    Claims,
    Failure,
    FleetRef,
    ResolvedRow,
    RestoreTarget,
    RowVerdict,
)
from simops.campaigns.sources import ReferenceKind, SourceRow
from simops.campaigns.store.database import (
    CampaignDatabase,
    Connection,
    SnapshotColumns,
    placeholders,
    snapshot_columns,
    snapshot_of,
)
from simops.campaigns.wanted_sims import WantedSims
from simops.core.codes import RuleCode
from simops.core.sim import NO_FLEET, DesiredState, SimStatus
from simops.supersim.resources import Fleet, SimSummary

PLAN_CHUNK = 2000

SNAPSHOT_COMMIT = 100_000
"""Listed SIMs the snapshot commits at once. Its key is the SIM's SID, which a listing gives
in no order: each commit rewrites most of the key's pages whatever its size, so a commit per
10,000 of a million SIMs wrote the index a hundred times (21 s against 12 s for commits of
100,000, measured alone). A snapshot cut short is taken again from its start anyway."""

PLAN_ROWS = """
SELECT r.row_no, COALESCE(r.source_row_no, r.row_no), r.line_no, r.reference, r.sim_sid,
       p.change, r.invalid_code, r.invalid_reason
FROM rows r LEFT JOIN plans p ON p.campaign_id = r.campaign_id AND p.plan_id = r.plan_id
WHERE r.campaign_id = ? AND r.row_no > ? ORDER BY r.row_no LIMIT ?
"""


class PlanRow(NamedTuple):
    """A prepared row as the dry run shows it: its planned change, or why it is invalid.

    `row_no` is the row's number in the report (a copied row's number in the campaign it was
    copied from)."""

    row_no: int
    line_no: int | None
    reference: str
    sim_sid: str | None
    change: str | None
    invalid_code: int | None
    invalid_reason: str | None


_RESOLVED = """SELECT r.row_no, r.kind, r.fleet, r.unique_name,
       s.sid, s.status, s.fleet_sid, s.account_sid, s.unique_name,
       r.target_account, r.target_status, r.target_fleet, r.note
FROM rows r LEFT JOIN sims s ON s.campaign_id = r.campaign_id AND """
_IN_RANGE = "r.campaign_id = ? AND r.row_no BETWEEN ? AND ? AND r.invalid_reason IS NULL"
RESOLVE_ROWS = f"""
{_RESOLVED}s.iccid = r.reference
WHERE {_IN_RANGE} AND r.kind = 'iccid'
UNION ALL
{_RESOLVED}s.sid = CASE r.kind
    WHEN 'sid' THEN r.reference
    ELSE COALESCE(
        (SELECT n.sim_sid FROM names n
         WHERE n.campaign_id = r.campaign_id AND n.name = r.reference),
        (SELECT CASE WHEN COUNT(*) = 1 THEN MIN(u.sid) END
         FROM sims u WHERE u.campaign_id = r.campaign_id AND u.unique_name = r.reference))
    END
WHERE {_IN_RANGE} AND r.kind <> 'iccid'
ORDER BY 1
"""
"""Each well-formed row of a range with the snapshot SIM its reference names (or nulls). A row
naming an ICCID joins the snapshot on the ICCID's index alone: through the SID it would also
look each SIM up by SID, in random order, which a snapshot of a million SIMs does not keep in
SQLite's cache."""


CopiedRow = tuple[SourceRow, RestoreTarget | None, str | None]
"""A row copied from an earlier campaign (a rollback's, a retry's): the row, where its SIM goes
back to (a rollback's; `None`: nowhere), and its note."""


def restore_target(
    account_sid: str | None, status: str | None, fleet: str | None
) -> RestoreTarget | None:
    """Where a row's SIM goes back to, from its `target_*` columns (`None`: nowhere)."""
    if account_sid is None or status is None:
        return None
    return RestoreTarget(account_sid, SimStatus(status), fleet or None)


def _plan_text(
    desired: DesiredState, from_statuses: tuple[SimStatus, ...] | None, change: str
) -> tuple[str, str, str]:
    """A plan as the `plans` table stores it."""
    statuses = json.dumps([status.value for status in from_statuses or ()])
    return desired.model_dump_json(), statuses, change


_ROW_COLUMNS = (
    "campaign_id, row_no, line_no, reference, kind, fleet, unique_name, invalid_code, "
    "invalid_reason"
)
"""The `rows` columns every imported row fills, in the order `_row_values` gives them."""


def _row_values(campaign_id: str, row: SourceRow) -> tuple[str | int | None, ...]:
    """A row as imported into `_ROW_COLUMNS` (a malformed one, with its problem, invalid)."""
    return (
        campaign_id,
        row.row_no,
        row.line_no,
        row.reference,
        row.kind.value if row.kind is not None and row.problem is None else None,
        row.fleet,
        row.unique_name,
        int(RuleCode.INVALID_PARAMETER) if row.problem is not None else None,
        row.problem,
    )


class PrepareStage(StrEnum):
    """How far preparation got."""

    NEW = "new"
    IMPORTED = "imported"
    SNAPSHOT = "snapshot"
    PREPARED = "prepared"


class PreparationStore:
    """The preparation's tables of one campaign database."""

    def __init__(self, database: CampaignDatabase) -> None:
        self._db = database
        self._plan_ids: dict[tuple[str, str, str], int] = {}
        self._listing: Connection | None = None
        self._listed_uncommitted = 0

    def stage(self) -> PrepareStage:
        """How far preparation got."""
        return PrepareStage(self._db.meta("stage") or PrepareStage.NEW.value)

    def set_stage(self, stage: PrepareStage) -> None:
        """Record that preparation got to `stage`."""
        with self._db.write() as db:
            self._db.set_meta(db, "stage", stage.value)

    def row_count(self) -> int:
        """How many rows are imported."""
        # Rows are numbered 1..N without gaps, so the largest number is the count (and O(1)).
        row = self._db.execute(
            "SELECT MAX(row_no) FROM rows WHERE campaign_id = ?", (self._db.campaign_id,)
        ).fetchone()
        return int(row[0] or 0)

    # Rows

    def reset(self) -> None:
        """Forget every imported row, plan and the snapshot, to import again from the start."""
        with self._db.write() as db:
            for table in ("rows", "plans", "sims", "names", "fleets"):
                db.execute(f"DELETE FROM {table} WHERE campaign_id = ?", (self._db.campaign_id,))
            self._db.set_meta(db, "stage", PrepareStage.NEW.value)
            self._db.set_meta(db, "validated_through", "0")
        self._plan_ids.clear()

    def add_rows(self, rows: Sequence[SourceRow], sims: Sequence[SimSummary] = ()) -> None:
        """Import rows (a malformed one is invalid at once) and, for a filter, their SIMs."""
        with self._db.write() as db:
            db.executemany(
                f"INSERT INTO rows ({_ROW_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [_row_values(self._db.campaign_id, row) for row in rows],
            )
            self._insert_sims(db, sims)

    def append_sims(self, sims: Sequence[SimSummary]) -> int:
        """Append the SIMs that are not yet rows as new rows after the last (a continuous
        campaign's scan), with them in the snapshot; how many were appended.

        Which are new is decided inside the write transaction that appends them, so a scan
        retried (or two at once) never makes two rows of one SIM. Each row names its SIM by
        SID, as a filter's rows do, and carries it in `sim_sid` at once: the next scan finds
        it even before it is validated.
        """
        if not sims:
            return 0
        campaign_id = self._db.campaign_id
        with self._db.write() as db:
            sids = [sim.sid for sim in sims]
            known = {
                sid
                for (sid,) in db.execute(
                    "SELECT sim_sid FROM rows WHERE campaign_id = ? "
                    f"AND sim_sid IN ({placeholders(len(sids))})",
                    [campaign_id, *sids],
                )
            }
            fresh = list({sim.sid: sim for sim in sims if sim.sid not in known}.values())
            if not fresh:
                return 0
            last = db.execute(
                "SELECT MAX(row_no) FROM rows WHERE campaign_id = ?", (campaign_id,)
            ).fetchone()[0]
            rows = [
                SourceRow(row_no=int(last or 0) + index, reference=sim.sid, kind=ReferenceKind.SID)
                for index, sim in enumerate(fresh, start=1)
            ]
            db.executemany(
                f"INSERT INTO rows ({_ROW_COLUMNS}, sim_sid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (*_row_values(campaign_id, row), sim.sid)
                    for row, sim in zip(rows, fresh, strict=True)
                ],
            )
            self._insert_sims(db, fresh)
        return len(fresh)

    def add_copied_rows(self, rows: Sequence[CopiedRow]) -> None:
        """Import rows copied from an earlier campaign: each row (with the number it had
        there), where its SIM goes back to (a rollback's) and its note."""
        with self._db.write() as db:
            db.executemany(
                f"INSERT INTO rows ({_ROW_COLUMNS}, source_row_no, target_account, target_status, "
                "target_fleet, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        *_row_values(self._db.campaign_id, row),
                        row.source_row_no,
                        target.account_sid if target is not None else None,
                        target.status.value if target is not None else None,
                        (target.fleet_sid or NO_FLEET) if target is not None else None,
                        note,
                    )
                    for row, target, note in rows
                ],
            )

    # The snapshot

    def _insert_sims(self, db: Connection, sims: Sequence[SimSummary]) -> None:
        db.executemany(
            "INSERT INTO sims (campaign_id, sid, iccid, unique_name, status, fleet_sid, "
            "account_sid) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (campaign_id, sid) "
            "DO UPDATE SET iccid = excluded.iccid, unique_name = excluded.unique_name, "
            "status = excluded.status, fleet_sid = excluded.fleet_sid, "
            "account_sid = excluded.account_sid",
            [
                (
                    self._db.campaign_id,
                    sim.sid,
                    sim.iccid,
                    sim.unique_name or None,
                    sim.status.value,
                    sim.fleet_sid,
                    sim.account_sid,
                )
                for sim in sims
            ],
        )

    def add_sims(self, sims: Sequence[SimSummary]) -> None:
        """Add SIMs to the snapshot (replacing any with the same SID)."""
        with self._db.write() as db:
            self._insert_sims(db, sims)

    def add_listed_sims(self, sims: Sequence[SimSummary]) -> None:
        """Add a listing's SIMs to the snapshot in a transaction that spans calls, committed
        every `SNAPSHOT_COMMIT` SIMs; `end_listing` commits (or drops) the rest."""
        if self._listing is None:
            self._listing = self._db.begin_write()
            self._listed_uncommitted = 0
        self._insert_sims(self._listing, sims)
        self._listed_uncommitted += len(sims)
        if self._listed_uncommitted >= SNAPSHOT_COMMIT:
            self.end_listing(commit=True)

    def end_listing(self, *, commit: bool) -> None:
        """Commit the listed SIMs not yet committed, or roll them back (a listing that failed:
        the snapshot is taken again from its start)."""
        if self._listing is not None:
            self._listing = None
            self._db.end_write(commit=commit)

    def clear_snapshot(self) -> None:
        """Forget the SIMs and names of the snapshot (before taking it again)."""
        with self._db.write() as db:
            self._delete_snapshot(db)

    def _delete_snapshot(self, db: Connection) -> None:
        for table in ("sims", "names"):
            if db.dialect.campaign_per_database:
                # Without a WHERE, SQLite frees the table's and its indexes' pages whole (zeroed:
                # secure_delete) instead of deleting row by row through the SID's index, in no
                # order: 1.4 s against 13 s for a million SIMs, measured alone.
                db.execute(f"DELETE FROM {table}")
            else:
                db.execute(f"DELETE FROM {table} WHERE campaign_id = ?", (self._db.campaign_id,))

    def set_fleets(self, fleets: Sequence[Fleet]) -> None:
        """Replace the Fleets the credentials list."""
        with self._db.write() as db:
            campaign_id = self._db.campaign_id
            db.execute("DELETE FROM fleets WHERE campaign_id = ?", (campaign_id,))
            db.executemany(
                "INSERT INTO fleets (campaign_id, sid, unique_name, account_sid) "
                "VALUES (?, ?, ?, ?)",
                [
                    (campaign_id, fleet.sid, fleet.unique_name, fleet.account_sid)
                    for fleet in fleets
                ],
            )

    def accounts(self) -> list[str]:
        """The accounts of the snapshot's SIMs and of the rows' targets (a rollback's)."""
        cursor = self._db.execute(
            "SELECT account_sid FROM sims WHERE campaign_id = ? UNION "
            "SELECT target_account FROM rows WHERE campaign_id = ? AND target_account IS NOT NULL",
            (self._db.campaign_id, self._db.campaign_id),
        )
        return [account for (account,) in cursor]

    def set_account_check(
        self, listed: Sequence[str], notes: Sequence[str], problem: Failure | None
    ) -> None:
        """Record what the snapshot found about the accounts: whose Fleets it listed, notes,
        and a problem that makes every row invalid (a destination no credentials act for)."""
        with self._db.write() as db:
            self._db.set_meta(db, "listed_accounts", json.dumps(sorted(listed)))
            self._db.set_meta(db, "notes", json.dumps(list(notes)))
            self._db.set_meta(db, "problem", json.dumps(problem))

    def listed_accounts(self) -> list[str]:
        """The accounts whose Fleets the snapshot listed (even those that have none)."""
        text = self._db.meta("listed_accounts")
        return [str(account) for account in json.loads(text)] if text else []

    def notes(self) -> list[str]:
        """The notes the snapshot recorded about the accounts."""
        text = self._db.meta("notes")
        return [str(note) for note in json.loads(text)] if text else []

    def problem(self) -> Failure | None:
        """The problem that makes every row invalid, if the snapshot found one."""
        text = self._db.meta("problem")
        found = json.loads(text) if text else None
        return (int(found[0]), str(found[1])) if found else None

    def fleets(self) -> list[FleetRef]:
        """The Fleets the credentials listed when the snapshot was taken."""
        cursor = self._db.execute(
            "SELECT sid, unique_name, account_sid FROM fleets WHERE campaign_id = ?",
            (self._db.campaign_id,),
        )
        return [FleetRef(*row) for row in cursor]

    def lookup_count(self) -> int:
        """How many requests looking up each row's SIM (and new unique name) would take."""
        row = self._db.execute(
            "SELECT (SELECT COUNT(*) FROM (SELECT DISTINCT kind, reference FROM rows "
            "WHERE campaign_id = ? AND kind IS NOT NULL) AS lookups) + "
            "(SELECT COUNT(DISTINCT unique_name) FROM rows "
            "WHERE campaign_id = ? AND kind IS NOT NULL)",
            (self._db.campaign_id, self._db.campaign_id),
        ).fetchone()
        return int(row[0])

    def wanted_sims(self, expected: int) -> WantedSims:
        """The references of the well-formed rows and the new unique names they ask for (about
        `expected` of them: `lookup_count`): the SIMs a listing must keep in the snapshot."""
        campaign_id = self._db.campaign_id
        wanted = WantedSims(expected)
        cursor = self._db.execute(
            "SELECT kind, reference FROM rows WHERE campaign_id = ? AND kind IS NOT NULL "
            "UNION ALL SELECT ?, unique_name FROM rows WHERE campaign_id = ? "
            "AND kind IS NOT NULL AND unique_name IS NOT NULL",
            (campaign_id, ReferenceKind.UNIQUE_NAME.value, campaign_id),
        )
        for kind, reference in cursor:
            wanted.add(ReferenceKind(kind), reference)
        return wanted

    def references(self, kind: ReferenceKind) -> list[str]:
        """The distinct well-formed references of one kind."""
        cursor = self._db.execute(
            "SELECT DISTINCT reference FROM rows WHERE campaign_id = ? AND kind = ?",
            (self._db.campaign_id, kind.value),
        )
        return [reference for (reference,) in cursor]

    def new_unique_names(self) -> list[str]:
        """The distinct new unique names well-formed rows ask for."""
        cursor = self._db.execute(
            "SELECT DISTINCT unique_name FROM rows WHERE campaign_id = ? "
            "AND unique_name IS NOT NULL AND kind IS NOT NULL",
            (self._db.campaign_id,),
        )
        return [name for (name,) in cursor]

    def ambiguous_names(self) -> list[str]:
        """Unique names rows refer to that several SIMs of the snapshot have (several accounts)."""
        cursor = self._db.execute(
            "SELECT r.reference FROM rows r JOIN sims s "
            "ON s.campaign_id = r.campaign_id AND s.unique_name = r.reference "
            "WHERE r.campaign_id = ? AND r.kind = ? "
            "GROUP BY r.reference HAVING COUNT(DISTINCT s.sid) > 1",
            (self._db.campaign_id, ReferenceKind.UNIQUE_NAME.value),
        )
        return [name for (name,) in cursor]

    def record_names(self, resolved: Sequence[tuple[str, str | None]]) -> None:
        """Record which SIM the API resolves a unique name to (`None`: no SIM)."""
        with self._db.write() as db:
            db.executemany(
                "INSERT INTO names (campaign_id, name, sim_sid) VALUES (?, ?, ?) "
                "ON CONFLICT (campaign_id, name) DO UPDATE SET sim_sid = excluded.sim_sid",
                [(self._db.campaign_id, name, sid) for name, sid in resolved],
            )

    # Validation

    def validated_through(self) -> int:
        """The last row validated so far (rows are validated in order)."""
        return int(self._db.meta("validated_through") or 0)

    def resolved_rows(self, first_row: int, count: int) -> list[ResolvedRow]:
        """The well-formed rows of a range, each with the snapshot SIM it names (or `None`)."""
        in_range = (self._db.campaign_id, first_row, first_row + count - 1)
        records = self._db.execute(RESOLVE_ROWS, in_range * 2)
        resolved: list[ResolvedRow] = []
        for row_no, kind, fleet, unique_name, sid, *columns in records:
            sim_columns: SnapshotColumns = (columns[0], columns[1], columns[2], columns[3])
            resolved.append(
                ResolvedRow(
                    row_no=row_no,
                    kind=ReferenceKind(kind),
                    fleet=fleet,
                    unique_name=unique_name,
                    sim=snapshot_of(sid, sim_columns),
                    target=restore_target(columns[4], columns[5], columns[6]),
                    note=columns[7],
                )
            )
        return resolved

    def claims_before(self, rows: Sequence[ResolvedRow], first_row: int) -> Claims:
        """What rows before `first_row` took of what `rows` ask for, and who holds the names."""
        claims = Claims()
        # `+row_no`: SQLite would otherwise walk the primary key through every earlier row
        # (its guess for `row_no < ?`), once per chunk: quadratic, 4 minutes of a million rows.
        # The unary plus leaves it the index on the SIM or the name, a few rows each.
        sids = list({row.sim.sid for row in rows if row.sim is not None})
        if sids:
            cursor = self._db.execute(
                "SELECT sim_sid, MIN(row_no) FROM rows WHERE campaign_id = ? "
                f"AND sim_sid IN ({placeholders(len(sids))}) AND +row_no < ? GROUP BY sim_sid",
                [self._db.campaign_id, *sids, first_row],
            )
            claims.sims.update({sid: row_no for sid, row_no in cursor})
        names = list({row.unique_name for row in rows if row.unique_name is not None})
        if names:
            marks = placeholders(len(names))
            cursor = self._db.execute(
                "SELECT unique_name, before_account, MIN(row_no) FROM rows WHERE campaign_id = ? "
                f"AND unique_name IN ({marks}) AND +row_no < ? AND plan_id IS NOT NULL "
                "GROUP BY 1, 2",
                [self._db.campaign_id, *names, first_row],
            )
            claims.names.update({(account, name): row_no for name, account, row_no in cursor})
            cursor = self._db.execute(
                "SELECT unique_name, account_sid, sid FROM sims WHERE campaign_id = ? "
                f"AND unique_name IN ({marks})",
                [self._db.campaign_id, *names],
            )
            claims.holders.update({(account, name): sid for name, account, sid in cursor})
        return claims

    def _plan_id(self, db: Connection, plan: tuple[str, str, str]) -> int:
        known = self._plan_ids.get(plan)
        if known is None:
            # The campaign's write lock is held: no other process numbers a plan meanwhile.
            campaign_id = self._db.campaign_id
            db.execute(
                "INSERT INTO plans (campaign_id, plan_id, desired, from_statuses, change) "
                "SELECT ?, COALESCE(MAX(plan_id), 0) + 1, ?, ?, ? FROM plans "
                "WHERE campaign_id = ? ON CONFLICT (campaign_id, desired, from_statuses, change) "
                "DO NOTHING",
                (campaign_id, *plan, campaign_id),
            )
            known = int(
                db.execute(
                    "SELECT plan_id FROM plans WHERE campaign_id = ? AND desired = ? "
                    "AND from_statuses = ? AND change = ?",
                    (campaign_id, *plan),
                ).fetchone()[0]
            )
            self._plan_ids[plan] = known
        return known

    @contextmanager
    def saving_verdicts(self, through: int) -> Iterator[Callable[[Sequence[RowVerdict]], None]]:
        """One transaction that stores verdicts (given to the function it yields, a chunk at a
        time, in row order) and, when the body ends, that rows up to `through` are validated.
        The body's reads see the chunks stored before (the same connection)."""
        plan_ids: dict[tuple[DesiredState, tuple[SimStatus, ...] | None, str], int] = {}
        try:
            with self._db.write() as db:
                yield partial(self._save_verdicts, db, plan_ids)
                self._db.set_meta(db, "validated_through", str(through))
        except BaseException:
            # Plans created in the rolled-back transaction do not exist.
            self._plan_ids.clear()
            raise

    def _save_verdicts(
        self,
        db: Connection,
        plan_ids: dict[tuple[DesiredState, tuple[SimStatus, ...] | None, str], int],
        verdicts: Sequence[RowVerdict],
    ) -> None:
        updates = []
        for verdict in verdicts:
            plan_id: int | None = None
            if verdict.desired is not None and verdict.change is not None:
                key = (verdict.desired, verdict.from_statuses, verdict.change)
                plan_id = plan_ids.get(key)
                if plan_id is None:
                    plan_id = plan_ids[key] = self._plan_id(db, _plan_text(*key))
            updates.append(
                (
                    verdict.sim_sid,
                    *snapshot_columns(verdict.before),
                    plan_id,
                    verdict.invalid_code,
                    verdict.invalid_reason,
                    verdict.note,
                    verdict.path,
                    self._db.campaign_id,
                    verdict.row_no,
                )
            )
        db.executemany(
            "UPDATE rows SET sim_sid = ?, before_status = ?, before_fleet = ?, "
            "before_account = ?, before_name = ?, plan_id = ?, invalid_code = ?, "
            "invalid_reason = ?, note = ?, path = ? WHERE campaign_id = ? AND row_no = ?",
            updates,
        )

    # The result

    def summarize(self) -> PrepareResult:
        """The counts of the prepared rows (valid, invalid, per planned change, per code)."""
        changes: dict[str, int] = {}
        already_converged = 0
        with self._db.small_sorts():
            by_change = self._db.execute(
                "SELECT p.change, COUNT(*) FROM rows r "
                "JOIN plans p ON p.campaign_id = r.campaign_id AND p.plan_id = r.plan_id "
                "WHERE r.campaign_id = ? AND r.invalid_reason IS NULL GROUP BY p.change",
                (self._db.campaign_id,),
            ).fetchall()
        for change, count in by_change:
            if change == ALREADY_CONVERGED:
                already_converged = count
            else:
                changes[change] = count
        by_code = {
            str(code): count
            for code, count in self._db.execute(
                "SELECT invalid_code, COUNT(*) FROM rows WHERE campaign_id = ? "
                "AND invalid_reason IS NOT NULL GROUP BY invalid_code",
                (self._db.campaign_id,),
            )
        }
        invalid = sum(by_code.values())
        rows = self.row_count()
        return PrepareResult(
            rows=rows,
            valid=rows - invalid,
            invalid=invalid,
            already_converged=already_converged,
            planned_changes=changes,
            invalid_by_code=by_code,
        )

    def finish(self, result: PrepareResult) -> None:
        """Record the result, mark the campaign prepared, and drop the snapshot."""
        with self._db.write() as db:
            self._delete_snapshot(db)
            self._db.set_meta(db, "prepare_result", result.model_dump_json())
            self._db.set_meta(db, "stage", PrepareStage.PREPARED.value)
        self._db.shrink()

    def finish_scan(self, result: PrepareResult) -> None:
        """Record the result after a continuous campaign's scan validated the rows it
        appended, and drop the snapshot it took (the campaign stays prepared throughout)."""
        with self._db.write() as db:
            self._delete_snapshot(db)
            self._db.set_meta(db, "prepare_result", result.model_dump_json())

    def result(self) -> PrepareResult | None:
        """The result preparation recorded when it finished, if it has."""
        text = self._db.meta("prepare_result")
        return PrepareResult.model_validate_json(text) if text is not None else None

    def plan_rows(self) -> Iterator[PlanRow]:
        """Every row with its planned change or why it is invalid, in row order, read in chunks
        (a million rows never sit in memory at once)."""
        last = 0
        while True:
            chunk = self._db.execute(PLAN_ROWS, (self._db.campaign_id, last, PLAN_CHUNK)).fetchall()
            if not chunk:
                return
            yield from (PlanRow._make(record[1:]) for record in chunk)
            last = chunk[-1][0]
