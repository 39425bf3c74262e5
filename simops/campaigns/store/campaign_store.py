"""The campaign store: per campaign, its spec, its source file, every input row as prepared,
and every row's outcome, in a database (`backends.py`: a SQLite file per campaign, or one
PostgreSQL database for all). The campaign workflow's activities record outcomes here; the CLI
reads counts and the report from here, from any process (and, with PostgreSQL, any machine).

A row's outcome is the recorded one; without one, `invalid` when preparation found the row
invalid, else `pending`. So counts add up to the rows at every moment, and the report accounts
for every input row exactly once.

Every statement names the campaign: in PostgreSQL, campaigns share the tables.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple, ParamSpec, TypeVar

from simops.campaigns.controls import failure_threshold_reason
from simops.campaigns.rows import (
    PENDING,
    BillingPeriodReading,
    CanarySim,
    CanaryStatus,
    PlannedRow,
    ReportRow,
    RowOutcome,
    TrackedSim,
)
from simops.campaigns.rules import RestoreTarget, path_text
from simops.campaigns.sources import ReferenceKind, SourceRow
from simops.campaigns.spec import CampaignSource, CampaignSpec
from simops.campaigns.store.backends import StoreBackend, as_backend
from simops.campaigns.store.database import (
    CampaignDatabase,
    Connection,
    placeholders,
    snapshot_columns,
    snapshot_of,
)
from simops.campaigns.store.errors import (
    CampaignStoreError,
)
from simops.campaigns.store.preparation import PreparationStore, PrepareStage, restore_target
from simops.campaigns.store.source_files import source_copy, source_sha256, store_source
from simops.core.sim import DesiredState, OutcomeKind, SimStatus
from simops.notifications.ended_rows import EndedRowRange, EndedRowsCursor, advanced
from simops.observability import metrics

WRITE_CHUNK = 5000
"""Rows per write transaction: long enough to be fast, short enough not to starve readers."""
READ_CHUNK = 2000

REPORT_SELECT = """
SELECT r.row_no, r.line_no, r.reference, r.sim_sid, r.invalid_code, r.invalid_reason,
       r.before_status, r.before_fleet, r.before_account, r.before_name,
       o.outcome, o.sim_sid, o.code, o.message,
       o.before_status, o.before_fleet, o.before_account, o.before_name,
       o.after_status, o.after_fleet, o.after_account, o.after_name,
       o.attempts, o.started_at, o.finished_at,
       o.warning, b.start_time, b.end_time, o.writes, o.restored, o.out_of_service_seconds,
       r.source_row_no, r.kind, r.fleet, r.unique_name,
       r.target_account, r.target_status, r.target_fleet, r.note, p.tracked
FROM rows r LEFT JOIN outcomes o ON o.campaign_id = r.campaign_id AND o.row_no = r.row_no
LEFT JOIN billing_periods b ON b.campaign_id = r.campaign_id AND b.row_no = r.row_no
LEFT JOIN in_progress p ON p.campaign_id = r.campaign_id AND p.row_no = r.row_no
WHERE r.campaign_id = ?
"""
REPORT_ROWS = REPORT_SELECT + " AND r.row_no BETWEEN ? AND ? ORDER BY r.row_no"
"""Rows of the report; each row's last columns are what copying it to a later campaign needs."""

RETRIED = (
    " AND ((o.outcome = ? {codes}) OR (o.outcome = ? AND ? = 1)) AND r.row_no > ? "
    "ORDER BY r.row_no LIMIT ?"
)
"""The rows a retry runs again: failed (with one of the codes, when given), and cancelled
when asked; a chunk of them after a row."""

FAILURE_GROUPS = """
SELECT outcome, code, message, count, row_no FROM (
    SELECT outcome, code, message, row_no, COUNT(*) OVER kind AS count,
           ROW_NUMBER() OVER (kind ORDER BY row_no) AS rank
    FROM (
        SELECT row_no, outcome, code, message FROM outcomes
        WHERE campaign_id = ? AND outcome IN ('failed', 'invalid')
        UNION ALL
        SELECT row_no, 'invalid', invalid_code, invalid_reason FROM rows r
        WHERE r.campaign_id = ? AND invalid_reason IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM outcomes o
                        WHERE o.campaign_id = r.campaign_id AND o.row_no = r.row_no)
    ) AS ended
    WINDOW kind AS (PARTITION BY outcome, code, message)
) AS ranked WHERE rank <= ?
ORDER BY count DESC, outcome, code IS NOT NULL, code, message IS NOT NULL, message, row_no
"""
"""Failed and invalid rows grouped by outcome, error code and message: each group's size and
its first rows. A missing code or message sorts first in both databases (PostgreSQL would put
it last)."""

ROW_OUTCOME = (
    "COALESCE(o.outcome, CASE WHEN r.invalid_reason IS NOT NULL THEN 'invalid' ELSE 'pending' END)"
)

UPSERT_OUTCOME = """
INSERT INTO outcomes (campaign_id, row_no, sim_sid, outcome, code, message,
    before_status, before_fleet, before_account, before_name,
    after_status, after_fleet, after_account, after_name, attempts, started_at, finished_at,
    warning, writes, restored, out_of_service_seconds)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (campaign_id, row_no) DO UPDATE SET
    sim_sid = excluded.sim_sid, outcome = excluded.outcome, code = excluded.code,
    message = excluded.message, before_status = excluded.before_status,
    before_fleet = excluded.before_fleet, before_account = excluded.before_account,
    before_name = excluded.before_name, after_status = excluded.after_status,
    after_fleet = excluded.after_fleet, after_account = excluded.after_account,
    after_name = excluded.after_name, attempts = excluded.attempts,
    started_at = excluded.started_at, finished_at = excluded.finished_at,
    warning = excluded.warning, writes = excluded.writes, restored = excluded.restored,
    out_of_service_seconds = excluded.out_of_service_seconds
"""

NEXT_PATH = "SELECT MIN(path) FROM rows WHERE campaign_id = ? AND path <> '' AND path > ?"
"""The next path after one (in the index `rows_by_path`: a few lookups, whatever the rows)."""
FIRST_ROWS_OF_PATH = (
    "SELECT row_no FROM rows WHERE campaign_id = ? AND path <> '' AND path = ? "
    "ORDER BY row_no LIMIT ?"
)

CANARY_STATES: dict[str, str] = {
    OutcomeKind.CONVERGED.value: "converged",
    OutcomeKind.ALREADY_CONVERGED.value: "converged",
}
"""How a canary SIM's outcome shows in its state (other outcomes show as they are)."""

STOP_REASON = "stop_reason"
"""The `meta` key of why the campaign takes no new first write (stopped or cancelled)."""
HOLD_REASON = "hold_reason"
"""The `meta` key of why first writes wait for now (paused, outside a window); empty: none."""
ENDED_ROWS_CURSOR = "notify_ended_rows"
"""The `meta` key of what the `rows_ended` webhooks reported (`EndedRowsCursor`, JSON)."""
ENDED_ROWS_READ = 100_000
"""Rows at or above the cursor's mark read per collection: those of the batches in flight."""

ENDED_BY_SIM = ("converged", "already_converged", "failed")
"""Outcomes of SIMs the campaign ran to an end (a failure ratio's denominator)."""


@dataclass(frozen=True)
class FailureGroup:
    """Rows that failed (or were invalid) with one error code and message: how many, and the
    first few."""

    outcome: str
    code: int | None
    message: str | None
    count: int
    examples: list[ReportRow]


class EarlierRow(NamedTuple):
    """A row of a campaign, to copy into a later one (a rollback's, a retry's): its number in
    the campaign's store, the row as its report shows it, and as it was imported (the SIM's
    reference, its Fleet and new name, where a rollback takes its SIM back to, its note)."""

    row_no: int
    report: ReportRow
    imported: SourceRow
    target: RestoreTarget | None
    note: str | None


@dataclass(frozen=True)
class ThroughputBucket:
    """How many SIMs ended (run to an outcome by the campaign) in one interval of time."""

    start: datetime
    sims: int


@dataclass(frozen=True)
class JournalEntries:
    """What one group commit of the batch activities records (see `commit_journal`)."""

    tracked: Sequence[TrackedSim] = ()
    ended: Sequence[RowOutcome] = ()
    first_writes: Sequence[int] = ()
    """Rows among `tracked` whose SIM is about to get its first write: refused when stopped."""
    stop_reason: str | None = None
    stop_row: int | None = None
    """The row whose SIM met the error behind `stop_reason` (a canary row's names it)."""


@dataclass(frozen=True)
class JournalCommit:
    """What a group commit found: the first writes refused, and why the campaign is stopped."""

    refused: frozenset[int] = field(default_factory=frozenset)
    stop_reason: str | None = None
    held: frozenset[int] = field(default_factory=frozenset)
    """First writes that must wait: the campaign is on hold (`hold_reason`), not stopped."""
    hold_reason: str | None = None


def _outcome_columns(campaign_id: str, outcome: RowOutcome) -> tuple[Any, ...]:
    return (
        campaign_id,
        outcome.row_no,
        outcome.sim_sid,
        outcome.outcome.value,
        outcome.code,
        outcome.message,
        *snapshot_columns(outcome.before),
        *snapshot_columns(outcome.after),
        outcome.attempts,
        _iso(outcome.started_at),
        _iso(outcome.finished_at),
        outcome.warning,
        outcome.writes,
        None if outcome.restored is None else int(outcome.restored),
        outcome.out_of_service_seconds,
    )


def _chunks(items: Sequence[Any], size: int = WRITE_CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text is not None else None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


P = ParamSpec("P")
T = TypeVar("T")


class CampaignStore:
    """One campaign's rows and outcomes, shared by the processes that run and report it.

    One object is used by one thread at a time; open one per process (or per thread). Code on
    an event loop calls it through `run`, on the store's own thread, so that a busy database
    never blocks the loop.
    """

    def __init__(self, spec: CampaignSpec, database: CampaignDatabase) -> None:
        self.spec = spec
        self._db = database
        self.preparation = PreparationStore(database)
        self._thread: ThreadPoolExecutor | None = None
        self._prepared_rows: int | None = None
        """The row count once the campaign is prepared: it never changes after (every journal
        commit checks its rows against it, and need not ask the database)."""
        self._canary_paths: dict[int, str] | None = None
        """The canary's rows and their paths, once read (prepared rows never change)."""

    @classmethod
    def create(
        cls, where: StoreBackend | Path, spec: CampaignSpec, source_file: Path | None
    ) -> CampaignStore:
        """Create the store of a new campaign, with its source file's content.

        The campaign appears all at once, so no process ever opens half a store.
        `CampaignExistsError` if the id is taken; `SourceError` if the source file cannot be
        read.
        """
        if (spec.source.file_name is None) != (source_file is None):
            raise ValueError("a file source needs source_file, and only a file source has one")
        backend = as_backend(where)

        def fill(database: CampaignDatabase, transaction: Connection) -> None:
            database.set_meta(transaction, "stage", PrepareStage.NEW.value)
            if source_file is not None:
                store_source(transaction, spec.campaign_id, source_file)

        backend.create(spec.campaign_id, spec.model_dump_json(), fill)
        return cls.open(backend, spec.campaign_id)

    @classmethod
    def open(cls, where: StoreBackend | Path, campaign_id: str) -> CampaignStore:
        """Open an existing campaign's store; `CampaignNotFoundError` if there is none."""
        database = as_backend(where).open(campaign_id)
        row = database.execute(
            "SELECT spec FROM campaigns WHERE campaign_id = ?", (campaign_id,)
        ).fetchone()
        if row is None:
            database.close()
            raise CampaignStoreError(f"campaign {campaign_id}: the store has no spec")
        return cls(CampaignSpec.model_validate_json(row[0]), database)

    @staticmethod
    def list_ids(where: StoreBackend | Path) -> list[str]:
        """The ids of every campaign, sorted."""
        return as_backend(where).list_ids()

    def close(self) -> None:
        """Close the database connection (and the store's thread, once idle)."""
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = None
        self._db.close()

    async def run(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`call(*args, **kwargs)`, a method of this store, run on the store's own thread."""
        if self._thread is None:
            self._thread = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix=f"store-{self.spec.campaign_id}"
            )
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, partial(call, *args, **kwargs))

    def __enter__(self) -> CampaignStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def source_copy(self) -> AbstractContextManager[Path]:
        """The campaign's source file, copied from the store to a temporary file for the body
        of a `with` (named as the user's file was)."""
        name = self.spec.source.file_name
        if name is None:
            raise CampaignStoreError(f"campaign {self.spec.campaign_id} has no source file")
        return source_copy(self._db, Path(name).name)

    def source_sha256(self) -> str | None:
        """The SHA-256 of the campaign's source file as stored (`None`: a filter source)."""
        return source_sha256(self._db) if self.spec.source.file_name is not None else None

    def is_prepared(self) -> bool:
        """Whether every row has been validated and planned."""
        if self._prepared_rows is None and self.preparation.stage() is PrepareStage.PREPARED:
            self._prepared_rows = self.preparation.row_count()
        return self._prepared_rows is not None

    def row_count(self) -> int:
        """How many input rows the campaign has (0 until its rows are imported)."""
        # A continuous campaign's scans append rows while it runs: its count is read each time.
        if self._prepared_rows is not None and self.spec.continuous is None:
            return self._prepared_rows
        return self.preparation.row_count()

    def planned_rows(
        self, first_row: int, count: int, row_nos: Sequence[int] | None = None
    ) -> list[PlannedRow]:
        """Rows `first_row`..`first_row + count - 1` in order (only those of `row_nos` when
        given), invalid ones with their reason."""
        if not self.is_prepared():
            raise CampaignStoreError(f"campaign {self.spec.campaign_id} is not prepared yet")
        only, chosen = _only_rows("r.row_no", row_nos)
        cursor = self._db.execute(
            "SELECT r.row_no, r.sim_sid, p.desired, p.from_statuses, r.invalid_code, "
            "r.invalid_reason, r.note, r.before_status, r.before_fleet, r.before_account, "
            "r.before_name FROM rows r "
            "LEFT JOIN plans p ON p.campaign_id = r.campaign_id AND p.plan_id = r.plan_id "
            f"WHERE r.campaign_id = ? AND r.row_no BETWEEN ? AND ?{only} ORDER BY r.row_no",
            (self._db.campaign_id, first_row, first_row + count - 1, *chosen),
        )
        return [_planned_row(record) for record in cursor]

    def canary_paths(self) -> dict[int, str]:
        """The canary's rows, each with its path: the first `spec.canary` rows (by number) of
        every path the plan has; none for a row that needs no call. In a campaign prepared
        before paths were recorded, its first `spec.canary` rows (as the canary was then)."""
        if self._canary_paths is not None:
            return self._canary_paths
        if not self.is_prepared():
            raise CampaignStoreError(f"campaign {self.spec.campaign_id} is not prepared yet")
        size, campaign_id = self.spec.canary, self._db.campaign_id
        paths: dict[int, str] = {}
        path = ""
        # Path by path through the index, never a scan: `status` asks for the canary too.
        while size and (path := self._db.execute(NEXT_PATH, (campaign_id, path)).fetchone()[0]):
            cursor = self._db.execute(FIRST_ROWS_OF_PATH, (campaign_id, path, size))
            paths.update((row_no, path) for (row_no,) in cursor)
        if (
            size
            and not paths
            and self._db.execute(
                "SELECT 1 FROM rows WHERE campaign_id = ? AND plan_id IS NOT NULL AND path IS NULL "
                "LIMIT 1",
                (campaign_id,),
            ).fetchone()
        ):
            paths = dict.fromkeys(range(1, min(size, self.row_count()) + 1), "")
        self._canary_paths = dict(sorted(paths.items()))
        return self._canary_paths

    def canary(self) -> CanaryStatus | None:
        """The canary's SIMs, their paths and how each stands (`None`: the spec has none)."""
        if self.spec.canary == 0:
            return None
        paths = self.canary_paths()
        sims: list[CanarySim] = []
        for chunk in _chunks(sorted(paths), READ_CHUNK):
            cursor = self._db.execute(
                f"SELECT r.row_no, r.sim_sid, {ROW_OUTCOME} FROM rows r LEFT JOIN outcomes o "
                "ON o.campaign_id = r.campaign_id AND o.row_no = r.row_no "
                f"WHERE r.campaign_id = ? AND r.row_no IN ({placeholders(len(chunk))}) "
                "ORDER BY r.row_no",
                [self._db.campaign_id, *chunk],
            )
            sims.extend(
                CanarySim.model_validate(
                    {
                        "row_no": row_no,
                        "sim_sid": sim_sid,
                        "path": paths[row_no],
                        "state": CANARY_STATES.get(outcome, outcome),
                    }
                )
                for row_no, sim_sid, outcome in cursor
            )
        return CanaryStatus(per_path=self.spec.canary, sims=sims)

    def record_outcomes(self, outcomes: Sequence[RowOutcome]) -> None:
        """Record how rows ended; a row's outcome recorded again replaces the earlier one."""
        self.record_round(outcomes, ())

    def record_round(self, ended: Sequence[RowOutcome], in_progress: Sequence[TrackedSim]) -> None:
        """Record one round of a batch: the rows that ended (their outcomes, replacing any
        recorded before) and what is known of the SIMs still in progress."""
        self.commit_journal(JournalEntries(tracked=in_progress, ended=ended))

    def commit_journal(self, entries: JournalEntries) -> JournalCommit:
        """Record, in one transaction, SIMs in progress (a write about to be sent, or what came
        back), outcomes, and a stop reason; refuse the first writes of `entries.first_writes`
        (rows) when the campaign is stopped, recorded by this process or another one, and
        hold them back when it is on hold (paused, outside its windows).

        The stop reason recorded first stays. When outcomes include failures, the failure
        threshold is judged here, so that every worker's failures count at once.
        """
        self._check_rows([*(o.row_no for o in entries.ended), *(s.row_no for s in entries.tracked)])
        campaign_id = self._db.campaign_id
        with self._db.write() as db:
            meta = self._db.metas(STOP_REASON, HOLD_REASON)
            stop_reason = meta.get(STOP_REASON)
            if stop_reason is None and entries.stop_reason is not None:
                stop_reason = (
                    self._canary_reason(entries.stop_row, f": {entries.stop_reason}")
                    or entries.stop_reason
                )
                self._db.set_meta(db, STOP_REASON, stop_reason)
            hold_reason = meta.get(HOLD_REASON) or None
            withheld = set(entries.first_writes) if stop_reason or hold_reason else set()
            tracked = [sim for sim in entries.tracked if sim.row_no not in withheld]
            for sims in _chunks(tracked):
                db.executemany(
                    "INSERT INTO in_progress (campaign_id, row_no, sim_sid, tracked) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (campaign_id, row_no) DO UPDATE SET "
                    "sim_sid = excluded.sim_sid, tracked = excluded.tracked",
                    [(campaign_id, sim.row_no, sim.sim_sid, sim.model_dump_json()) for sim in sims],
                )
            for chunk in _chunks(entries.ended):
                db.execute(
                    "DELETE FROM in_progress WHERE campaign_id = ? "
                    f"AND row_no IN ({placeholders(len(chunk))})",
                    [campaign_id, *(outcome.row_no for outcome in chunk)],
                )
                db.executemany(
                    UPSERT_OUTCOME, [_outcome_columns(campaign_id, outcome) for outcome in chunk]
                )
            failures = [o for o in entries.ended if o.outcome is OutcomeKind.FAILED]
            if stop_reason is None and failures:
                stop_reason = self._judge_failures(db, failures)
        self._count_ended(Counter(o.outcome.value for o in entries.ended))
        if stop_reason is not None:
            return JournalCommit(refused=frozenset(withheld), stop_reason=stop_reason)
        return JournalCommit(held=frozenset(withheld), hold_reason=hold_reason)

    def _judge_failures(self, db: Connection, failures: Sequence[RowOutcome]) -> str | None:
        spec = self.spec
        for failure in failures:
            reason = self._canary_reason(
                failure.row_no, f" ({failure.code or 'no code'}: {failure.message})"
            )
            if reason is not None:
                reason += "; no SIM outside the canary got a write"
                self._db.set_meta(db, STOP_REASON, reason)
                return reason
        if spec.max_failures is None and spec.max_failure_ratio is None:
            return None
        counts = dict(
            db.execute(
                "SELECT outcome, COUNT(*) FROM outcomes WHERE campaign_id = ? AND outcome IN "
                f"({placeholders(len(ENDED_BY_SIM))}) GROUP BY outcome",
                (self._db.campaign_id, *ENDED_BY_SIM),
            ).fetchall()
        )
        threshold_reason = failure_threshold_reason(
            spec,
            failed=counts.get(OutcomeKind.FAILED.value, 0),
            ended=sum(counts.values()),
            total=self.row_count(),
        )
        if threshold_reason is not None:
            self._db.set_meta(db, STOP_REASON, threshold_reason)
        return threshold_reason

    def _canary_reason(self, row_no: int | None, failure: str) -> str | None:
        """Why the campaign stops when the canary SIM of `row_no` failed for `failure`; `None`
        when the row is not a canary row."""
        if row_no is None or self.spec.canary == 0:
            return None
        path = self.canary_paths().get(row_no)
        if path is None:
            return None
        naming = f"row {row_no} (path {path_text(path)})" if path else f"row {row_no}"
        return f"canary: the SIM of {naming} failed{failure}"

    def _check_rows(self, row_nos: Sequence[int]) -> None:
        rows = self.row_count()
        stray = [row_no for row_no in row_nos if not 1 <= row_no <= rows]
        if stray:
            raise CampaignStoreError(f"no rows {stray[:5]} in campaign {self.spec.campaign_id}")

    def stop_reason(self) -> str | None:
        """Why the campaign takes no new first write, if it was stopped or cancelled."""
        return self._db.meta(STOP_REASON)

    def stop(self, reason: str) -> str:
        """Stop new first writes from now on, in every process; the reason that holds (an
        earlier one stays)."""
        return self.commit_journal(JournalEntries(stop_reason=reason)).stop_reason or reason

    def controls(self) -> tuple[str | None, str | None]:
        """Why the campaign stopped and why it holds first writes (`None`: it does not)."""
        meta = self._db.metas(STOP_REASON, HOLD_REASON)
        return meta.get(STOP_REASON), meta.get(HOLD_REASON) or None

    def hold(self, reason: str | None) -> None:
        """Hold every new first write, in every process, until `hold(None)` (the journal's
        commit checks it immediately before each send)."""
        with self._db.write() as db:
            self._db.set_meta(db, HOLD_REASON, reason or "")

    def in_progress(
        self,
        first_row: int,
        count: int,
        sim_sids: Sequence[str] | None = None,
        row_nos: Sequence[int] | None = None,
    ) -> list[TrackedSim]:
        """The SIMs of a range still in progress (without an outcome), as last recorded; only
        those of `sim_sids` and of `row_nos` when given."""
        only, chosen = _only_rows("p.row_no", row_nos)
        query = (
            "SELECT p.tracked FROM in_progress p WHERE p.campaign_id = ? "
            f"AND p.row_no BETWEEN ? AND ?{only} AND NOT EXISTS (SELECT 1 FROM outcomes o "
            "WHERE o.campaign_id = p.campaign_id AND o.row_no = p.row_no)"
        )
        parameters: list[Any] = [self._db.campaign_id, first_row, first_row + count - 1, *chosen]
        if sim_sids is not None:
            query += f" AND p.sim_sid IN ({placeholders(len(sim_sids))})"
            parameters += sim_sids
        cursor = self._db.execute(query + " ORDER BY p.row_no", parameters)
        return [TrackedSim.model_validate_json(tracked) for (tracked,) in cursor]

    def record_billing_period(self, row_no: int, reading: BillingPeriodReading) -> None:
        """Record the billing period a row's SIM had before it moved (durably, before the move:
        once moved, its period is no longer visible)."""
        with self._db.write() as db:
            db.execute(
                "INSERT INTO billing_periods (campaign_id, row_no, start_time, end_time, is_open) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (campaign_id, row_no) DO UPDATE SET "
                "start_time = excluded.start_time, end_time = excluded.end_time, "
                "is_open = excluded.is_open",
                (
                    self._db.campaign_id,
                    row_no,
                    _iso(reading.start_time),
                    _iso(reading.end_time),
                    int(reading.is_open),
                ),
            )

    def billing_periods(self, row_nos: Sequence[int]) -> dict[int, BillingPeriodReading]:
        """The billing periods recorded for these rows (rows without one are left out)."""
        readings: dict[int, BillingPeriodReading] = {}
        for chunk in _chunks(list(row_nos), READ_CHUNK):
            cursor = self._db.execute(
                "SELECT row_no, start_time, end_time, is_open FROM billing_periods "
                f"WHERE campaign_id = ? AND row_no IN ({placeholders(len(chunk))})",
                [self._db.campaign_id, *chunk],
            )
            readings.update(
                {
                    row_no: BillingPeriodReading(
                        start_time=_time(start), end_time=_time(end), is_open=bool(is_open)
                    )
                    for row_no, start, end, is_open in cursor
                }
            )
        return readings

    def finished_rows(
        self, first_row: int, count: int, row_nos: Sequence[int] | None = None
    ) -> set[int]:
        """The rows of a range (only those of `row_nos` when given) that have an outcome."""
        only, chosen = _only_rows("row_no", row_nos)
        cursor = self._db.execute(
            f"SELECT row_no FROM outcomes WHERE campaign_id = ? AND row_no BETWEEN ? AND ?{only}",
            (self._db.campaign_id, first_row, first_row + count - 1, *chosen),
        )
        return {row_no for (row_no,) in cursor}

    def cancel_unfinished(self, reason: str, first_row: int = 1) -> int:
        """Mark `cancelled` every row from `first_row` without an outcome that is not invalid."""
        with self._db.write() as db:
            cursor = db.execute(
                "INSERT INTO outcomes (campaign_id, row_no, sim_sid, outcome, message, "
                "before_status, before_fleet, before_account, before_name, attempts, "
                "finished_at) SELECT r.campaign_id, r.row_no, r.sim_sid, ?, ?, r.before_status, "
                "r.before_fleet, r.before_account, r.before_name, 0, ? FROM rows r "
                "WHERE r.campaign_id = ? AND r.row_no >= ? AND r.invalid_reason IS NULL "
                "AND NOT EXISTS (SELECT 1 FROM outcomes o "
                "WHERE o.campaign_id = r.campaign_id AND o.row_no = r.row_no)",
                (
                    OutcomeKind.CANCELLED.value,
                    reason,
                    _iso(datetime.now().astimezone()),
                    self._db.campaign_id,
                    first_row,
                ),
            )
        self._count_ended({OutcomeKind.CANCELLED.value: cursor.rowcount})
        return cursor.rowcount

    def _count_ended(self, counts: Mapping[str, int]) -> None:
        # Counted once committed, in the process that committed: every way a row ends (a SIM's
        # round, an invalid row, a failed batch, a cancel) comes through the store.
        metrics.record_rows_ended(self.spec.campaign_id, self.spec.action.value, counts)

    def counts(self) -> dict[str, int]:
        """Rows per outcome, plus `pending` for those without one; they add up to the rows."""
        counts = {kind.value: 0 for kind in OutcomeKind}
        counts[PENDING] = 0
        with self._db.small_sorts():
            cursor = self._db.execute(
                f"SELECT {ROW_OUTCOME}, COUNT(*) FROM rows r LEFT JOIN outcomes o "
                "ON o.campaign_id = r.campaign_id AND o.row_no = r.row_no "
                "WHERE r.campaign_id = ? GROUP BY 1",
                (self._db.campaign_id,),
            )
            counts.update({outcome: count for outcome, count in cursor})
        return counts

    def out_of_service_seconds(self) -> list[float]:
        """How long each SIM the campaign deactivated stayed out of service, shortest first."""
        cursor = self._db.execute(
            "SELECT out_of_service_seconds FROM outcomes "
            "WHERE campaign_id = ? AND out_of_service_seconds IS NOT NULL ORDER BY 1",
            (self._db.campaign_id,),
        )
        return [seconds for (seconds,) in cursor]

    def failure_groups(self, most: int = 20, examples: int = 3) -> list[FailureGroup]:
        """Failed and invalid rows grouped by outcome, error code and message, largest group
        first: at most `most` groups, each with its count and its first `examples` rows as the
        report has them."""
        groups: dict[tuple[str, int | None, str | None], tuple[int, list[int]]] = {}
        campaign_id = self._db.campaign_id
        for outcome, code, message, count, row_no in self._db.execute(
            FAILURE_GROUPS, (campaign_id, campaign_id, examples)
        ):
            key = (outcome, code, message)
            if key not in groups and len(groups) == most:
                break
            groups.setdefault(key, (count, []))[1].append(row_no)
        wanted = [row_no for _, row_nos in groups.values() for row_no in row_nos]
        cursor = self._db.execute(
            REPORT_SELECT + f" AND r.row_no IN ({placeholders(len(wanted))})",
            [campaign_id, *wanted],
        )
        rows = {record[0]: self._report_row(record) for record in cursor}
        return [
            FailureGroup(*key, count, [rows[row_no] for row_no in row_nos])
            for key, (count, row_nos) in groups.items()
        ]

    def collect_ended_rows(self, collection: int) -> list[EndedRowRange]:
        """The rows that ended (an outcome, or invalid) since collection `collection - 1`, as
        runs, recorded as reported in the same transaction; collection `collection` again
        (a retried activity) returns the same runs, so no row is lost or sent twice."""
        with self._db.write() as db:
            row = db.execute(
                "SELECT value FROM meta WHERE campaign_id = ? AND key = ?",
                (self._db.campaign_id, ENDED_ROWS_CURSOR),
            ).fetchone()
            cursor = (
                EndedRowsCursor.model_validate_json(row[0])
                if row is not None
                else EndedRowsCursor()
            )
            if cursor.sequence == collection:
                return cursor.last_ranges
            ended = db.execute(
                f"SELECT r.row_no, COALESCE(o.outcome, '{OutcomeKind.INVALID.value}'), "
                "COALESCE(o.code, r.invalid_code) FROM rows r LEFT JOIN outcomes o "
                "ON o.campaign_id = r.campaign_id AND o.row_no = r.row_no "
                "WHERE r.campaign_id = ? AND r.row_no >= ? "
                "AND (o.row_no IS NOT NULL OR r.invalid_reason IS NOT NULL) "
                "ORDER BY r.row_no LIMIT ?",
                (self._db.campaign_id, cursor.low, ENDED_ROWS_READ),
            ).fetchall()
            moved = advanced(cursor, [(int(n), str(kind), code) for n, kind, code in ended])
            moved = moved.model_copy(update={"sequence": collection})
            self._db.set_meta(db, ENDED_ROWS_CURSOR, moved.model_dump_json())
        return moved.last_ranges

    def throughput(self, bucket_seconds: int) -> list[ThroughputBucket]:
        """SIMs the campaign ran to an end (converged, already converged or failed) per
        interval of `bucket_seconds`, by when each ended, oldest first; intervals where none
        ended are left out. Cancelled and invalid rows are not counted: nothing ran them."""
        if bucket_seconds < 1:
            raise ValueError("bucket_seconds must be at least 1")
        ended_at = self._db.dialect.epoch_seconds.format("finished_at")
        cursor = self._db.execute(
            f"SELECT {ended_at} / ? AS bucket, COUNT(*) FROM outcomes WHERE campaign_id = ? "
            f"AND finished_at IS NOT NULL AND outcome IN ({placeholders(len(ENDED_BY_SIM))}) "
            "GROUP BY bucket ORDER BY bucket",
            (bucket_seconds, self._db.campaign_id, *ENDED_BY_SIM),
        )
        return [
            ThroughputBucket(datetime.fromtimestamp(bucket * bucket_seconds, UTC), sims)
            for bucket, sims in cursor
        ]

    def report_rows(self) -> Iterator[ReportRow]:
        """Every input row exactly once, in row order, read a chunk at a time."""
        return (row.report for row in self.earlier_rows())

    def earlier_rows(self) -> Iterator[EarlierRow]:
        """Every row, in row order, read a chunk at a time, as a later campaign copies it."""
        total = self.row_count()
        for first in range(1, total + 1, READ_CHUNK):
            chunk = self._db.execute(
                REPORT_ROWS, (self._db.campaign_id, first, first + READ_CHUNK - 1)
            ).fetchall()
            yield from map(self._earlier_row, chunk)

    def retried_rows(self, source: CampaignSource) -> Iterator[EarlierRow]:
        """The rows a retry from `source` (`retry_of` this campaign) runs again, in row order:
        those that ended `failed`, with one of `source.retry_codes` when there are any, and
        with `source.retry_cancelled` those that ended `cancelled`."""
        codes = list(source.retry_codes)
        query = REPORT_SELECT + RETRIED.format(
            codes=f"AND o.code IN ({placeholders(len(codes))})" if codes else ""
        )
        last = 0
        while True:
            parameters = [
                self._db.campaign_id,
                OutcomeKind.FAILED.value,
                *codes,
                OutcomeKind.CANCELLED.value,
                int(source.retry_cancelled),
                last,
                READ_CHUNK,
            ]
            chunk = self._db.execute(query, parameters).fetchall()
            if not chunk:
                return
            yield from map(self._earlier_row, chunk)
            last = chunk[-1][0]

    def _report_row(self, record: Sequence[Any]) -> ReportRow:
        return _report_row(record, self.spec.source.retry_of)

    def _earlier_row(self, record: Sequence[Any]) -> EarlierRow:
        report = self._report_row(record)
        kind, fleet, unique_name, *target, note = record[32:39]
        imported = SourceRow(
            row_no=record[0],
            reference=report.reference,
            fleet=fleet,
            unique_name=unique_name,
            kind=ReferenceKind(kind) if kind is not None else None,
            line_no=report.line_no,
            source_row_no=report.row_no,
        )
        return EarlierRow(record[0], report, imported, restore_target(*target), note)


def _only_rows(column: str, row_nos: Sequence[int] | None) -> tuple[str, Sequence[int]]:
    """A condition keeping only the rows `row_nos` (nothing when `None`), and its parameters."""
    if row_nos is None:
        return "", ()
    if not row_nos:
        return " AND 1 = 0", ()
    return f" AND {column} IN ({placeholders(len(row_nos))})", row_nos


def _planned_row(record: Iterable[Any]) -> PlannedRow:
    row_no, sim_sid, desired, from_statuses, code, reason, note, *before = record
    return PlannedRow(
        row_no=row_no,
        sim_sid=sim_sid,
        desired=DesiredState.model_validate_json(desired) if desired else None,
        from_statuses=(
            [SimStatus(status) for status in json.loads(from_statuses)] if from_statuses else None
        ),
        before=snapshot_of(sim_sid, (before[0], before[1], before[2], before[3])),
        invalid_code=code,
        invalid_reason=reason,
        note=note,
    )


def _report_row(record: Sequence[Any], retry_of: str | None) -> ReportRow:
    """A row of `REPORT_SELECT` as the report shows it: a copied row by the number it had in
    the campaign it was copied from."""
    row_no, line_no, reference, sim_sid, invalid_code, invalid_reason = record[:6]
    prepared_before = record[6:10]
    outcome, outcome_sid, code, message = record[10:14]
    before, after = record[14:18], record[18:22]
    attempts, started_at, finished_at = record[22:25]
    warning, period_start, period_end = record[25:28]
    writes, restored, out_of_service, source_row_no = record[28:32]
    if outcome is None:
        invalid = invalid_reason is not None
        outcome = OutcomeKind.INVALID.value if invalid else PENDING
        code, message = (invalid_code, invalid_reason) if invalid else (None, None)
        if record[39] is not None:
            # A SIM on its path: what the store recorded of it so far, so a report read
            # mid-run shows what was sent. A write recorded at its gate, immediately before
            # its request, counts until its answer is recorded (at the round's end).
            sim = TrackedSim.model_validate_json(record[39])
            writes = sim.writes + (sim.pending_write is not None)
            attempts, started_at = sim.attempts, _iso(sim.started_at)
            if sim.before is not None:
                before = snapshot_columns(sim.before)
            after = snapshot_columns(sim.observed)
    if before[0] is None:
        before = prepared_before
    return ReportRow(
        row_no=row_no if source_row_no is None else source_row_no,
        line_no=line_no,
        reference=reference,
        sim_sid=outcome_sid or sim_sid,
        outcome=outcome,
        code=code,
        message=message,
        before_status=before[0],
        before_fleet=before[1],
        after_status=after[0],
        after_fleet=after[1],
        attempts=attempts or 0,
        started_at=_time(started_at),
        finished_at=_time(finished_at),
        before_account=before[2],
        after_account=after[2],
        billing_period_start=_time(period_start),
        billing_period_end=_time(period_end),
        warning=warning,
        writes=writes or 0,
        restored=None if restored is None else bool(restored),
        out_of_service_seconds=out_of_service,
        retry_of=retry_of,
    )
