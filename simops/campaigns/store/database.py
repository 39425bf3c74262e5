"""A connection to a campaign store's database, SQLite or PostgreSQL: its dialect, its write
transactions, and its schema version.

Both backends run the same statements, written with `?` placeholders in the SQL both share; the
few expressions they spell differently come from the `Dialect`. Several processes write one
campaign at a time (workers' activities, the CLI), so every write is one short transaction that
first takes the campaign's write lock: SQLite's `BEGIN IMMEDIATE` (the file is the campaign), a
`FOR UPDATE` of the campaign's row in PostgreSQL. Writers of one campaign therefore take turns,
readers never wait, and a decision read inside a write (is the campaign stopped?) holds until
its commit, in every process. One `CampaignDatabase` is used by one thread at a time.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, cast

import psycopg

from simops.campaigns.store.errors import CampaignStoreError
from simops.campaigns.store.schema import LATEST_VERSION, MIGRATIONS, VERSION_TABLE, Migration
from simops.core.sim import SimSnapshot
from simops.observability import metrics

BUSY_TIMEOUT_SECONDS = 10.0
"""How long SQLite waits for another process's write: below the batch activities' 15 s
heartbeat timeout, so a long lock fails one commit (retried) rather than an attempt."""

SQLITE_CACHE_KIB = 32768
"""SQLite's page cache per connection, in KiB."""

SQLITE_SORT_CACHE_KIB = 2048
"""SQLite's page cache, in KiB, while `CampaignDatabase.small_sorts` bounds a sort's memory."""

DATABASE_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, psycopg.Error)
"""What either driver raises when the database cannot do what was asked."""

CONNECTION_ERRORS: tuple[type[Exception], ...] = (psycopg.OperationalError,)
"""What PostgreSQL raises when the connection is lost: worth a new connection and a retry."""


def is_transient(error: BaseException) -> bool:
    """Whether the database may do on a retry what it refused: a SQLite file locked by another
    process, a lost or refused PostgreSQL connection, a deadlock or serialization failure."""
    if isinstance(error, sqlite3.OperationalError):
        return "locked" in str(error) or "busy" in str(error)
    return isinstance(
        error,
        (
            psycopg.OperationalError,
            psycopg.errors.SerializationFailure,
            psycopg.errors.DeadlockDetected,
        ),
    )


UPGRADE_LOCK = 0x53494D4F
"""PostgreSQL advisory lock key that makes concurrent `simops db upgrade` runs take turns."""


class Cursor(Protocol):
    """What both drivers' cursors give: rows as tuples, and how many rows a write touched."""

    rowcount: int

    def fetchone(self) -> Any:
        """The next row, or `None`."""

    def fetchall(self) -> list[Any]:
        """Every remaining row."""

    def __iter__(self) -> Iterator[Any]:
        """The rows, one at a time."""


@dataclass(frozen=True)
class Dialect:
    """What the two databases spell differently."""

    name: str
    blob: str
    """The type of a column of bytes."""
    now_seconds: str
    """The database's clock, in seconds since the epoch (leases compare it, not a host's)."""
    epoch_seconds: str
    """An ISO-8601 text column (`{}`) as whole seconds since the epoch."""
    begin_write: str
    """What begins a write transaction."""
    lock_campaign: str | None
    """What then takes the campaign's write lock (`?`: its ID), when beginning does not."""
    campaign_per_database: bool
    """Whether a campaign store's database holds one campaign (SQLite: a file per campaign), so
    that a campaign's rows of a table are all its rows."""

    def sql(self, statement: str) -> str:
        """A statement in this dialect's placeholder style."""
        return _placeholders_for(self.name, statement)


@lru_cache(maxsize=512)
def _placeholders_for(dialect: str, statement: str) -> str:
    # psycopg takes %s and reads % as the start of one, so a literal one is doubled.
    if dialect == "postgresql":
        return statement.replace("%", "%%").replace("?", "%s")
    return statement


SQLITE = Dialect(
    name="sqlite",
    blob="BLOB",
    now_seconds="((julianday('now') - 2440587.5) * 86400.0)",
    epoch_seconds="CAST(strftime('%s', {}) AS INTEGER)",
    begin_write="BEGIN IMMEDIATE",
    lock_campaign=None,
    campaign_per_database=True,
)
POSTGRESQL = Dialect(
    name="postgresql",
    blob="BYTEA",
    now_seconds="CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)",
    epoch_seconds="CAST(EXTRACT(EPOCH FROM CAST({} AS TIMESTAMPTZ)) AS BIGINT)",
    begin_write="BEGIN",
    lock_campaign="SELECT 1 FROM campaigns WHERE campaign_id = ? FOR UPDATE",
    campaign_per_database=False,
)


class Connection:
    """One connection to SQLite or PostgreSQL, with statements in the shared SQL."""

    def __init__(self, raw: sqlite3.Connection | psycopg.Connection[Any], dialect: Dialect):
        self.raw = raw
        self.dialect = dialect

    @classmethod
    def sqlite(cls, path: Path) -> Connection:
        """A connection to a SQLite file, in WAL mode (readers never block the writer)."""
        raw = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
        )
        raw.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable across a process crash in WAL mode; only power loss can undo the
        # last transactions, and every write here can be done again (outcomes are upserts).
        raw.execute("PRAGMA synchronous=NORMAL")
        # Validation looks a million rows up in a snapshot of a million SIMs: a page cache
        # of 32 MiB (filled only as used) keeps the indexes in memory.
        raw.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        # Deleted pages are overwritten: a dropped snapshot's ICCIDs must not linger.
        raw.execute("PRAGMA secure_delete=ON")
        return cls(raw, SQLITE)

    @classmethod
    def postgresql(cls, url: str) -> Connection:
        """A connection to a PostgreSQL database; transactions are begun explicitly."""
        raw = psycopg.connect(url, autocommit=True, application_name="simops")
        return cls(raw, POSTGRESQL)

    def execute(self, statement: str, parameters: Sequence[Any] = ()) -> Cursor:
        """Run one statement (outside a transaction: a read, or one atomic write)."""
        metrics.record_store_statements(self.dialect.name, statement)
        return cast(Cursor, self.raw.execute(self.dialect.sql(statement), parameters))

    def executemany(self, statement: str, parameters: Sequence[Sequence[Any]]) -> None:
        """Run one statement once per parameter set."""
        if parameters:
            metrics.record_store_statements(self.dialect.name, statement, len(parameters))
            self.raw.cursor().executemany(self.dialect.sql(statement), parameters)

    def begin(self, begin: str, lock: str | None = None, parameters: Sequence[Any] = ()) -> None:
        """Begin a transaction with `begin`, then take `lock` (with `parameters`); rolled back
        if the lock cannot be taken."""
        self.execute(begin)
        if lock is not None:
            try:
                self.execute(lock, parameters)
            except BaseException:
                self.execute("ROLLBACK")
                raise

    @contextmanager
    def transaction(
        self, begin: str, lock: str | None = None, parameters: Sequence[Any] = ()
    ) -> Iterator[Connection]:
        """One transaction, begun with `begin` and then `lock` (with `parameters`); committed
        when the body ends, rolled back when it raises."""
        self.begin(begin, lock, parameters)
        try:
            yield self
        except BaseException:
            self.execute("ROLLBACK")
            raise
        self.execute("COMMIT")

    def close(self) -> None:
        """Close the connection."""
        self.raw.close()


def has_table(connection: Connection, table: str) -> bool:
    """Whether the database has `table` (a read: no lock is taken)."""
    if connection.dialect is SQLITE:
        found = connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()
        return found is not None
    found = connection.execute("SELECT to_regclass(?)", (table,)).fetchone()
    return found is not None and found[0] is not None


def schema_version(connection: Connection) -> int:
    """The last migration the database applied (0: none, or no simops schema at all)."""
    if not has_table(connection, "simops_schema"):
        return 0
    row = connection.execute("SELECT MAX(version) FROM simops_schema").fetchone()
    return int(row[0] or 0)


def upgrade_schema(connection: Connection) -> list[Migration]:
    """Apply the migrations the database lacks, each in its own transaction; those applied."""
    dialect = connection.dialect
    lock = None if dialect is SQLITE else "SELECT pg_advisory_xact_lock(?)"
    applied: list[Migration] = []
    for migration in MIGRATIONS:
        with connection.transaction(dialect.begin_write, lock, (UPGRADE_LOCK,)):
            connection.execute(VERSION_TABLE)
            if schema_version(connection) >= migration.version:
                continue
            for statement in migration.statements:
                connection.execute(statement.format(blob=dialect.blob))
            connection.execute("DELETE FROM simops_schema")
            connection.execute(
                "INSERT INTO simops_schema (version) VALUES (?)", (migration.version,)
            )
        applied.append(migration)
    return applied


class SchemaBehindError(CampaignStoreError):
    """The database's schema is older than this simops needs: `simops db upgrade` first."""

    def __init__(self, where: str, version: int) -> None:
        super().__init__(
            f"the campaign store {where} is at schema version {version}, and this simops needs "
            f"version {LATEST_VERSION}: run `simops db upgrade`"
        )
        self.version = version


class SchemaAheadError(CampaignStoreError):
    """The database was upgraded by a newer simops than this one."""

    def __init__(self, where: str, version: int) -> None:
        super().__init__(
            f"the campaign store {where} is at schema version {version}, newer than this "
            f"simops knows ({LATEST_VERSION}): upgrade simops"
        )


def check_schema(connection: Connection, where: str) -> None:
    """Raise unless the database's schema is the one this simops writes."""
    version = schema_version(connection)
    if version < LATEST_VERSION:
        raise SchemaBehindError(where, version)
    if version > LATEST_VERSION:
        raise SchemaAheadError(where, version)


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
    """One campaign's part of a store database: its statements carry its ID, and its writes
    hold its write lock."""

    def __init__(self, connection: Connection, campaign_id: str) -> None:
        self.connection = connection
        self.campaign_id = campaign_id

    @property
    def dialect(self) -> Dialect:
        """The dialect of the database."""
        return self.connection.dialect

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Cursor:
        """Run one statement outside any explicit transaction (a read)."""
        return self.connection.execute(sql, parameters)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction, holding the campaign's write lock from its start."""
        dialect = self.dialect
        with self.connection.transaction(
            dialect.begin_write, dialect.lock_campaign, (self.campaign_id,)
        ) as transaction:
            yield transaction

    def begin_write(self) -> Connection:
        """Begin a write transaction holding the campaign's write lock, which the caller ends
        with `end_write` (one that spans several calls on the store's thread)."""
        dialect = self.dialect
        self.connection.begin(dialect.begin_write, dialect.lock_campaign, (self.campaign_id,))
        return self.connection

    def end_write(self, *, commit: bool) -> None:
        """Commit (or roll back) the transaction `begin_write` began."""
        self.connection.execute("COMMIT" if commit else "ROLLBACK")

    @contextmanager
    def small_sorts(self) -> Iterator[None]:
        """Sorts (a GROUP BY over a million rows) within a few MiB for the body of a `with`.

        SQLite lets a sort's memory grow to the size of the page cache before it spills to a
        temporary file: counting a million rows by outcome or plan raised the peak RSS by about
        30 MiB. A smaller cache meanwhile bounds both; PostgreSQL bounds sorts itself
        (`work_mem`) on its own server.
        """
        if self.dialect is not SQLITE:
            yield
            return
        raw = self.connection.raw
        raw.execute(f"PRAGMA cache_size=-{SQLITE_SORT_CACHE_KIB}")
        try:
            yield
        finally:
            raw.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")

    def meta(self, key: str) -> str | None:
        """A value the campaign keeps under `key`."""
        row = self.execute(
            "SELECT value FROM meta WHERE campaign_id = ? AND key = ?", (self.campaign_id, key)
        ).fetchone()
        return row[0] if row is not None else None

    def metas(self, *keys: str) -> dict[str, str]:
        """The values the campaign keeps under `keys` (one statement; missing keys left out)."""
        cursor = self.execute(
            "SELECT key, value FROM meta WHERE campaign_id = ? "
            f"AND key IN ({placeholders(len(keys))})",
            (self.campaign_id, *keys),
        )
        return dict(cursor.fetchall())

    def set_meta(self, transaction: Connection, key: str, value: str) -> None:
        """Set a value the campaign keeps under `key`, inside a write transaction."""
        transaction.execute(
            "INSERT INTO meta (campaign_id, key, value) VALUES (?, ?, ?) "
            "ON CONFLICT (campaign_id, key) DO UPDATE SET value = excluded.value",
            (self.campaign_id, key, value),
        )

    def shrink(self) -> None:
        """Give freed pages back after a large delete (SQLite; PostgreSQL's autovacuum does)."""
        if self.dialect is SQLITE:
            # The pragma frees one page per step of its statement, and only a script (unlike
            # `execute`) steps it to the end.
            raw = self.connection.raw
            assert isinstance(raw, sqlite3.Connection)
            raw.executescript("PRAGMA incremental_vacuum;")
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
