"""The SQLite database of one campaign: schema, connection settings and write transactions.

Several processes open the same database (a worker's activities, the CLI's status and report),
so it runs in WAL mode (readers never block the writer), every write is one short
`BEGIN IMMEDIATE` transaction of bounded size, and a busy database is waited for rather than
failed. One `CampaignDatabase` is used by one thread at a time.

Rows keep a SIM's state as plain columns, and a row's plan (desired state, the statuses it
applies to, the change for the dry run) once per distinct plan in `plans`: a million rows
mostly share a handful of plans, and a prepared row takes about 130 bytes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from simops.core.sim import SimSnapshot

BUSY_TIMEOUT_SECONDS = 60.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS plans (
    plan_id INTEGER PRIMARY KEY,
    desired TEXT NOT NULL,
    from_statuses TEXT NOT NULL,
    change TEXT NOT NULL,
    UNIQUE (desired, from_statuses, change)
);
CREATE TABLE IF NOT EXISTS rows (
    row_no INTEGER PRIMARY KEY,
    line_no INTEGER,
    reference TEXT NOT NULL,
    kind TEXT,
    fleet TEXT,
    unique_name TEXT,
    sim_sid TEXT,
    before_status TEXT,
    before_fleet TEXT,
    before_account TEXT,
    before_name TEXT,
    plan_id INTEGER REFERENCES plans (plan_id),
    invalid_code INTEGER,
    invalid_reason TEXT,
    target_account TEXT,
    target_status TEXT,
    target_fleet TEXT,
    note TEXT
);
CREATE TABLE IF NOT EXISTS outcomes (
    row_no INTEGER PRIMARY KEY,
    sim_sid TEXT,
    outcome TEXT NOT NULL,
    code INTEGER,
    message TEXT,
    before_status TEXT,
    before_fleet TEXT,
    before_account TEXT,
    before_name TEXT,
    after_status TEXT,
    after_fleet TEXT,
    after_account TEXT,
    after_name TEXT,
    attempts INTEGER NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    warning TEXT,
    writes INTEGER,
    restored INTEGER,
    out_of_service_seconds REAL
);
CREATE TABLE IF NOT EXISTS sims (
    sid TEXT PRIMARY KEY,
    iccid TEXT,
    unique_name TEXT,
    status TEXT NOT NULL,
    fleet_sid TEXT,
    account_sid TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sims_by_iccid ON sims (iccid);
CREATE INDEX IF NOT EXISTS sims_by_name ON sims (unique_name) WHERE unique_name IS NOT NULL;
CREATE TABLE IF NOT EXISTS names (name TEXT PRIMARY KEY, sim_sid TEXT);
CREATE TABLE IF NOT EXISTS fleets (sid TEXT PRIMARY KEY, unique_name TEXT, account_sid TEXT);
"""

VALIDATION_INDEXES = """
CREATE INDEX IF NOT EXISTS rows_by_sim ON rows (sim_sid) WHERE sim_sid IS NOT NULL;
CREATE INDEX IF NOT EXISTS rows_by_new_name ON rows (unique_name) WHERE unique_name IS NOT NULL;
"""
"""What validation looks rows up by (earlier rows of a SIM or a new name); dropped after it."""

ADDED_COLUMNS: dict[str, tuple[str, ...]] = {
    "rows": ("target_account TEXT", "target_status TEXT", "target_fleet TEXT", "note TEXT"),
    "outcomes": (
        "warning TEXT",
        "writes INTEGER",
        "restored INTEGER",
        "out_of_service_seconds REAL",
    ),
}
"""Columns added since stores were first written: an older store gets them when opened.

A row's `target_*` is where a rollback takes its SIM back to (`target_fleet` empty: no Fleet);
`note` is what the report says of a row besides its outcome. An outcome's `writes` counts the
state-changing writes the campaign made to the SIM, `restored` says whether compensation put back
what a failed path changed, and `out_of_service_seconds` how long the SIM was deactivated.
"""

ADDED_TABLES = {
    "billing_periods": "CREATE TABLE IF NOT EXISTS billing_periods (row_no INTEGER PRIMARY KEY, "
    "start_time TEXT, end_time TEXT, is_open INTEGER NOT NULL)",
    "in_progress": "CREATE TABLE IF NOT EXISTS in_progress (row_no INTEGER PRIMARY KEY, "
    "tracked TEXT NOT NULL)",
    "pacing_leases": "CREATE TABLE IF NOT EXISTS pacing_leases (worker_id TEXT PRIMARY KEY, "
    "running INTEGER NOT NULL, renewed_at REAL NOT NULL)",
}
"""Tables added since stores were first written: the billing period a moved SIM had, and what a
batch knows of each SIM it is still converging (a `TrackedSim` as JSON), kept here rather than
in the batch workflow's history, which then carries only SIDs; and each worker process's lease
on a share of the campaign's rate (`campaign_pacing.py`)."""

SnapshotColumns = tuple[str | None, str | None, str | None, str | None]
"""A SIM's status, Fleet, account and unique name, as four columns (the SID is its own)."""

NO_SNAPSHOT: SnapshotColumns = (None, None, None, None)


def snapshot_columns(snapshot: SimSnapshot | None) -> SnapshotColumns:
    """The columns a snapshot is stored in."""
    if snapshot is None:
        return NO_SNAPSHOT
    return (
        snapshot.status.value,
        snapshot.fleet_sid,
        snapshot.account_sid,
        snapshot.unique_name,
    )


def snapshot_of(sid: str | None, columns: SnapshotColumns) -> SimSnapshot | None:
    """The snapshot stored in four columns, or `None` when there is none."""
    status, fleet_sid, account_sid, unique_name = columns
    if sid is None or status is None or account_sid is None:
        return None
    return SimSnapshot(
        sid=sid,
        status=status,
        fleet_sid=fleet_sid,
        account_sid=account_sid,
        unique_name=unique_name,
    )


def placeholders(count: int) -> str:
    """`?,?,…` for an `IN (…)` of `count` values."""
    return ",".join("?" * count)


class CampaignDatabase:
    """A connection to one campaign's database, with its write transactions and settings."""

    def __init__(self, path: Path, *, new: bool = False) -> None:
        self.path = path
        self.connection = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
        )
        if new:
            # Must come before anything is written: the snapshot is deleted once used, and
            # its pages are then given back instead of staying in the file.
            self.connection.execute("PRAGMA auto_vacuum=INCREMENTAL")
        self.connection.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable across a process crash in WAL mode; only power loss can undo the
        # last transactions, and every write here can be done again (outcomes are upserts).
        self.connection.execute("PRAGMA synchronous=NORMAL")
        # Validation looks a million rows up in a snapshot of a million SIMs: a page cache
        # of 32 MiB (filled only as used) keeps the indexes in memory.
        self.connection.execute("PRAGMA cache_size=-32768")
        if not new:
            self._upgrade()

    def _upgrade(self) -> None:
        """Add the columns and tables an older store lacks (nothing when it has them all)."""
        tables = {name for (name,) in self.connection.execute("SELECT name FROM sqlite_master")}
        missing = [create for table, create in ADDED_TABLES.items() if table not in tables]
        for table, columns in ADDED_COLUMNS.items():
            cursor = self.connection.execute(f"PRAGMA table_info({table})")
            present = {name for _, name, *_ in cursor}
            missing += [
                f"ALTER TABLE {table} ADD COLUMN {column}"
                for column in columns
                if present and column.split()[0] not in present
            ]
        if missing:
            with self.write() as db:
                for statement in missing:
                    db.execute(statement)

    @classmethod
    def create(cls, path: Path) -> CampaignDatabase:
        """A new database with the schema; freed pages go back to the file system."""
        database = cls(path, new=True)
        database.connection.executescript(
            SCHEMA + ";".join(ADDED_TABLES.values()) + ";" + VALIDATION_INDEXES
        )
        return database

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> sqlite3.Cursor:
        """Run one statement outside any explicit transaction (a read)."""
        return self.connection.execute(sql, parameters)

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taking the write lock at once (no upgrade deadlocks)."""
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            yield self.connection
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")

    def meta(self, key: str) -> str | None:
        """A value of the `meta` table."""
        row = self.connection.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row is not None else None

    @staticmethod
    def set_meta(db: sqlite3.Connection, key: str, value: str) -> None:
        """Set a value of the `meta` table, inside a write transaction."""
        db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def shrink(self) -> None:
        """Give freed pages back and empty the write-ahead log (after a large delete)."""
        # The pragma frees one page per step of its statement, and only a script (unlike
        # `execute`) steps it to the end.
        self.connection.executescript("PRAGMA incremental_vacuum;")
        self.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
